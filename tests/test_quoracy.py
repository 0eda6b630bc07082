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
