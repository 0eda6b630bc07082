"""The schema extensions of shared/spec/plan.md (2026-12-01), worked by hand on a fifth area,
the worked example of docs/new-area.md ("Testshire"): roles an area declares, the `immediate` timescale, a
target before the limit, the discussion's format, a quorum that differs by condition; and
the readable citation. Each goes through `python -m bot plan` / `check-config` as a user would."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.config_loader import DEFAULT_CONFIG_DIR, ConfigError, load_profiles
from bot.core.profile import Document, readable_source

try:
    import plan_helpers as h
except ModuleNotFoundError:  # tests/ imported as a package
    from tests import plan_helpers as h

DOC = "testshire-procedure.pdf"
GUIDE = Path(__file__).resolve().parent.parent / "docs" / "new-area.md"


def worked_example() -> str:
    """The profile of the guide's worked example (docs/new-area.md, section 11), as printed."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text[text.index("## 11. A worked example"):]
    return section[section.index("```yaml\n") + len("```yaml\n"):section.index("\n```\n")] + "\n"


TESTSHIRE = worked_example()


def contact(i: int, role: str, availability: str) -> dict:
    return {"id": f"c{i}", "role": role, "name": f"Sam Fictional {i}",
            "aad_object_id": f"00000000-0000-4000-8000-{i:012x}", "tenant_id": "00000000-0000-4000-8000-0000000000aa",
            "email": f"c{i}@testshire.example", "phone": "01632 960999", "availability": availability}


DIRECTORY = {"area": "testshire", "contacts": [
    contact(1, "social_care", "office_hours"), contact(2, "edt", "on_call"), contact(3, "police", "always"),
    contact(4, "health", "office_hours"), contact(5, "family_support_charity", "on_call")]}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    (target / "testshire.yaml").write_text(TESTSHIRE, encoding="utf-8")
    (target / "directory" / "testshire.yaml").write_text(yaml.safe_dump(DIRECTORY), encoding="utf-8")
    return target


def plan(config: Path, **kw) -> dict:
    req = h.request("testshire", kw.pop("decided_at", "2026-11-25T10:00:00+00:00"), **kw)
    code, out, err = h.run_plan_raw(req, config)
    assert code == 0 and err == "", err
    return json.loads(out)


def test_check_config_accepts_the_fifth_area(config, capsys):
    assert main(["--config", str(config), "check-config"]) == 0
    assert "testshire: ok" in capsys.readouterr().out


def test_an_immediate_discussion_is_due_at_the_decision_and_stays_with_the_daytime_team(config):
    p = plan(config, flags=["emergency_protection"])
    assert p["meeting_deadline"] == "2026-11-25T10:00:00+00:00"
    assert p["deadline_rule"]["id"] == "ts_immediate"
    from bot.core.request import parse_request
    from bot.core.routing import routed_plan
    profile = load_profiles(config)["testshire"]
    stored = routed_plan(parse_request(h.request("testshire", "2026-11-25T10:00:00+00:00", flags=["emergency_protection"]),
                                       {"testshire"}), profile)
    assert stored["routing"]["out_of_hours"] is False


def test_a_target_before_the_limit(config):
    p = plan(config)  # Wednesday: limit three working days (Monday), target one (Thursday)
    assert p["meeting_deadline"] == "2026-11-30T17:00:00+00:00"
    assert p["meeting_target"] == "2026-11-26T17:00:00+00:00"


def test_a_target_is_never_later_than_the_limit(config):
    p = plan(config, flags=["serious_harm"])
    assert p["meeting_deadline"] == p["meeting_target"] == "2026-11-25T12:00:00+00:00"


def test_no_target_when_no_matching_rule_sets_one(config):
    p = plan(config, flags=["emergency_protection"])
    assert "meeting_target" not in p
    assert "meeting_target" not in h.run_plan(h.request("bristol", "2026-11-25T10:00:00+00:00"))


def test_the_discussion_may_be_phone_calls_where_the_protocol_allows(config):
    urgent = plan(config, flags=["emergency_protection"])
    assert urgent["format"] == "meeting_or_calls" and urgent["format_rule"]["source"] == f"{DOC} §3.2"
    usual = plan(config)
    assert usual["format"] == "meeting" and "format_rule" not in usual
    assert h.run_plan(h.request("walsall", "2026-11-25T10:00:00+00:00"))["format"] == "meeting"


def test_the_quorum_differs_for_the_immediate_discussion(config):
    urgent = plan(config, flags=["emergency_protection"])
    assert urgent["quorum"] == ["social_care", "police"]
    assert h.level(urgent, "police") == "quorum" and h.reason_rules(urgent, "police") == ["ts_immediate_quorum"]
    assert h.level(urgent, "health") is None
    assert plan(config)["quorum"] == ["social_care", "health", "police"]


def test_a_declared_role_is_a_role_of_its_area(config):
    p = plan(config, referrer="family_support_charity", involved=["family_support_charity"])
    assert h.level(p, "family_support_charity") == "should"
    assert h.reason_rules(p, "family_support_charity") == ["ts_referrer", "ts_charity"]
    health = next(q for q in load_profiles(config)["testshire"].quorum.roles if q.role == "health")
    assert "family_support_charity" in health.filled_by  # `fills: health`


def test_another_areas_request_naming_the_declared_role_is_invalid(config):
    req = h.request("bristol", "2026-11-25T10:00:00+00:00", referrer="family_support_charity",
                    involved=["police", "family_support_charity"])
    code, out, err = h.run_plan_raw(req, config)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["referrer", "involved_services[1]"]
    assert "'family_support_charity'" in lines[0] and "Traceback" not in err


def write(config: Path, text: str) -> list[str]:
    (config / "testshire.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_profiles(config)
    return info.value.problems


def test_declared_roles_are_checked_where_they_are_written(config):
    assert "config/testshire.yaml: roles[0].id: 'police' is already a role of the contract; declare only roles it " \
        "does not list" in write(config, TESTSHIRE.replace("id: family_support_charity", "id: police"))
    (line,) = write(config, TESTSHIRE.replace("fills: health", "fills: housing"))
    assert line.startswith("config/testshire.yaml: roles[0].fills: 'housing' is not a quorum role")
    (line,) = write(config, TESTSHIRE.replace("role: family_support_charity", "role: family_support_charty"))
    assert line.startswith("config/testshire.yaml: invitees[1].role: unknown role 'family_support_charty'")
    assert "'family_support_charity'" in line  # the declared roles are among those offered


def test_a_role_declared_by_one_area_is_unknown_to_another(config):
    bristol = (config / "bristol.yaml").read_text().replace("role: housing", "role: family_support_charity", 1)
    bristol = bristol.replace("only: [housing]", "only: [family_support_charity]")
    (config / "bristol.yaml").write_text(bristol)
    with pytest.raises(ConfigError) as info:
        load_profiles(config)
    assert info.value.problems and all(p.startswith("config/bristol.yaml: invitees[") for p in info.value.problems)


def test_immediate_and_target_are_refused_where_they_make_no_sense(config):
    (line,) = write(config, TESTSHIRE.replace("target: {working_days: 1}\n    summary: \"Usually",
                                              "target: as_soon_as_practicable\n    summary: \"Usually"))
    assert line.startswith("config/testshire.yaml: timescales.default:") and "target needs a deadline" in line
    (line,) = write(config, TESTSHIRE.replace("timescale: immediate", "timescale: immediatly"))
    assert "timescales.rules[0].timescale" in line and "immediate" in line and "{hours: N}" in line


def test_a_citation_reads_with_the_documents_title():
    docs = {"003_2d544eb75ad81283.txt": Document(title="Bristol strategy meeting guidance")}
    assert readable_source("003_2d544eb75ad81283.txt §3.2", docs) == "Bristol strategy meeting guidance §3.2"
    assert readable_source("999_x.txt §1", docs) == "999_x.txt §1"
    bristol = load_profiles(DEFAULT_CONFIG_DIR)["bristol"]
    assert bristol.readable_source("004_e075efc701440f6e.txt §Health practitioners") == \
        "Top tips for strategy meetings §Health practitioners"
    assert all(d.title.strip() for p in load_profiles(DEFAULT_CONFIG_DIR).values() for d in p.documents.values())


def test_the_guide_names_every_role_flag_and_concern():
    from bot.core.vocabulary import CONCERNS, FLAGS, ROLES
    text = GUIDE.read_text(encoding="utf-8")
    assert [v for v in (*ROLES, *FLAGS, *CONCERNS) if f"`{v}`" not in text] == []


def test_requests_validated_against_the_profiles_accept_each_areas_own_roles(config):
    from bot.core.request import RequestInvalid, parse_request
    profiles = load_profiles(config)
    ok = parse_request(h.request("testshire", "2026-11-25T10:00:00+00:00", referrer="family_support_charity"), profiles)
    assert ok.referrer == "family_support_charity"
    with pytest.raises(RequestInvalid) as info:
        parse_request(h.request("walsall", "2026-11-25T10:00:00+00:00", referrer="family_support_charity"), profiles)
    assert [p.split(":")[0] for p in info.value.problems] == ["referrer"]
