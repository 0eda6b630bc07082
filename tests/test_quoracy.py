from bot.config_loader import load_profiles
from bot.core.quoracy import Answered, quorum_status

PROFILES = load_profiles()


def status(area, *answers):
    return quorum_status(PROFILES[area].quorum, [Answered(*a) for a in answers])


def test_quorate_only_when_social_care_health_and_police_have_each_accepted():
    s = status("north-somerset", ("social_care", "Sam", "accepted"), ("police", "Pat", "accepted"), ("health", "Hana", "none"))
    assert not s.quorate
    assert [(r.role, r.state) for r in s.roles] == [("social_care", "accepted"), ("health", "waiting"), ("police", "accepted")]
    s = status("north-somerset", ("social_care", "Sam", "accepted"), ("police", "Pat", "accepted"), ("health", "Hana", "accepted"))
    assert s.quorate and s.unfilled == ()


def test_bristol_sarc_or_paediatrician_fills_health_but_a_gp_does_not():
    base = [("social_care", "Sam", "accepted"), ("police", "Pat", "accepted"), ("health", "Hana", "declined")]
    assert status("bristol", *base, ("sarc", "Sol", "accepted")).quorate
    assert status("bristol", *base, ("paediatrician", "Dr P", "accepted")).quorate
    gp = status("bristol", *base, ("gp", "Dr G", "accepted"))
    assert not gp.quorate and gp.unfilled == ("health",)


def test_edt_fills_social_care_out_of_hours():
    assert status("walsall", ("edt", "Eve", "accepted"), ("police", "Pat", "accepted"), ("paediatrician", "Dr P", "accepted")).quorate


def test_a_declined_or_unreachable_quorum_role_is_unfilled_so_the_chair_escalates():
    s = status("regional", ("social_care", "Sam", "accepted"), ("police", "Pat", "declined"),
               ("health", "Hana", "none", True))
    assert set(s.unfilled) == {"health", "police"}
    written = status("regional", ("police", "Pat", "written"))
    assert "police" in written.unfilled  # information in writing does not make the meeting quorate


def test_nobody_invited_yet_is_unfilled():
    assert status("bristol").unfilled == ("social_care", "health", "police")


def test_a_nomination_waits_for_the_nominee_until_the_nominee_has_their_own_invitation():
    sc, health = ("social_care", "Sam", "accepted"), ("health", "Hana", "accepted")
    # Nominated someone the bot could not invite: still waiting (the chair chases by email).
    s = status("bristol", sc, health, ("police", "Pat", "nominated"))
    assert [r.state for r in s.roles if r.role == "police"] == ["waiting"]
    # The nominee was invited: their answer decides.
    handed = quorum_status(PROFILES["bristol"].quorum, [
        Answered(*sc), Answered(*health), Answered("police", "Pat", "nominated", handed_over=True),
        Answered("police", "Bo", "declined")])
    police = next(r for r in handed.roles if r.role == "police")
    assert police.state == "declined" and police.by.name == "Bo" and handed.unfilled == ("police",)
    accepted = quorum_status(PROFILES["bristol"].quorum, [
        Answered(*sc), Answered(*health), Answered("police", "Pat", "nominated", handed_over=True),
        Answered("police", "Bo", "accepted")])
    assert accepted.quorate


def test_unreachable_and_not_invited_are_told_apart():
    s = status("bristol", ("police", "Pat", "none", True))
    states = {r.role: r.state for r in s.roles}
    assert states == {"social_care": "not_invited", "health": "not_invited", "police": "unreachable"}
