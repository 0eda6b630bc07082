"""The plan contract (shared/spec/plan.md): output shape, local times, one entry per role,
invalid requests (exit 2, one line per problem naming the field, nothing on stdout, never a
traceback), `-` for stdin, and `check-config`. The end-to-end tests run `python -m bot` in a
real subprocess; the rest call the CLI in-process through tests/plan_helpers.py.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

try:
    import plan_helpers as h
except ModuleNotFoundError:  # tests/ imported as a package
    from tests import plan_helpers as h

LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0[01]:00$")
AREAS = tuple(h.DOCS)


def full_request(area: str, decided_at: str = "2026-11-25T10:00:00+00:00",
                 meeting_at: str = "2026-11-25T19:00:00+00:00") -> dict:
    """Every contract field, every child field, many rules firing at once."""
    return {
        "area": area,
        "decided_at": decided_at,
        "meeting_at": meeting_at,
        "children": [
            {"ref": "A", "age": 9, "unborn": False, "education": "school", "inpatient": "paediatric",
             "hospital_services": True},
            {"ref": "B", "age": None, "unborn": True, "education": "none", "inpatient": "none",
             "hospital_services": False},
            {"ref": "C"},
        ],
        "concerns": ["sexual_abuse", "physical_abuse", "extra_familial_harm", "neglect"],
        "flags": ["serious_harm", "recent_incident", "chronic_neglect", "unexplained_injury",
                  "allegation_against_professional", "organised_abuse", "emergency_protection"],
        "referrer": "police",
        "involved_services": ["police", "camhs", "housing", "probation", "gp", "other_local_authority",
                              "domestic_abuse_service", "adult_mental_health", "health"],
    }


def subprocess_env() -> dict:
    env = dict(os.environ)
    env.pop("STRATBOT_CONFIG_DIR", None)
    return env


def run_bot(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True,
                          text=True, cwd=h.REPO, env=subprocess_env(), timeout=60)


# --- output shape -------------------------------------------------------------------------------

def _assert_citation(c: dict, keys=("id", "summary", "source")) -> None:
    assert set(keys) <= set(c), c
    for k in keys:
        assert isinstance(c[k], str) and c[k].strip(), (k, c)
    src = c["source"]
    assert re.match(r"^\S+ §\S", src), src


@pytest.mark.parametrize("area", AREAS)
def test_output_fields_and_types(area):
    plan = h.run_plan(full_request(area))
    for key, typ in [("area", str), ("decided_at", str), ("out_of_hours", bool), ("meeting_deadline", str),
                     ("deadline_rule", dict), ("matched_rules", list), ("quorum", list), ("invitees", list),
                     ("follow_ups", list), ("deadline_out_of_hours", bool)]:
        assert isinstance(plan.get(key), typ), (key, plan.get(key))
    assert plan["area"] == area
    _assert_citation(plan["deadline_rule"])
    assert plan["matched_rules"]
    for m in plan["matched_rules"]:
        _assert_citation(m)
        assert isinstance(m["deadline"], str)
    assert all(isinstance(r, str) for r in plan["quorum"])
    for inv in plan["invitees"]:
        assert isinstance(inv["role"], str)
        assert inv["level"] in h.LEVELS
        assert isinstance(inv["reasons"], list) and inv["reasons"]
        for r in inv["reasons"]:
            _assert_citation(r, ("rule", "summary", "source"))
    for f in plan["follow_ups"]:
        assert isinstance(f["kind"], str) and re.match(r"^[a-z][a-z0-9_]*$", f["kind"])
        assert f["due"] is None or isinstance(f["due"], str)
        _assert_citation(f["rule"])
    h.assert_sources_of_area(plan)


@pytest.mark.parametrize("area", AREAS)
def test_winner_is_the_earliest_matched_rule_and_matched_are_sorted(area):
    plan = h.run_plan(full_request(area))
    deadlines = [datetime.fromisoformat(m["deadline"]) for m in plan["matched_rules"]]
    assert deadlines == sorted(deadlines)
    first = plan["matched_rules"][0]
    assert first["id"] == plan["deadline_rule"]["id"]
    assert first["deadline"] == plan["meeting_deadline"]
    assert len({m["id"] for m in plan["matched_rules"]}) == len(plan["matched_rules"])


@pytest.mark.parametrize("area", AREAS)
def test_quorum_roles_are_invited_at_level_quorum(area):
    plan = h.run_plan(full_request(area))
    assert set(plan["quorum"]) == h.QUORUM_ROLES
    quorum_invitees = {i["role"] for i in plan["invitees"] if i["level"] == "quorum"}
    assert quorum_invitees == set(plan["quorum"])


@pytest.mark.parametrize("area", AREAS)
def test_a_role_appears_once_at_its_highest_level_with_every_reason(area):
    plan = h.run_plan(full_request(area))
    roles = [i["role"] for i in plan["invitees"]]
    assert len(roles) == len(set(roles))
    for inv in plan["invitees"]:
        keys = [(r["rule"], r["source"]) for r in inv["reasons"]]
        assert len(keys) == len(set(keys)), inv
    # police: quorum, and also the referrer and an involved service, all reasons kept
    police = h.invitee(plan, "police")
    assert police["level"] == "quorum" and len(police["reasons"]) >= 3
    # the LADO: every area's 004 "should" plus, in North Somerset, its "must"
    lado = h.invitee(plan, "lado")
    assert any(r["source"].startswith(h.TOP_TIPS) for r in lado["reasons"])
    assert lado["level"] == ("must" if area == "north-somerset" else "should")
    if area == "north-somerset":
        assert len(lado["reasons"]) == 2


# --- local time with offset ------------------------------------------------------------------------

def _all_times(plan: dict) -> list[str]:
    times = [plan["decided_at"], plan["meeting_deadline"], *(m["deadline"] for m in plan["matched_rules"])]
    if "meeting_at" in plan:
        times.append(plan["meeting_at"])
    times += [f["due"] for f in plan.get("follow_ups", []) if f["due"] is not None]
    return times


@pytest.mark.parametrize("area", AREAS)
@pytest.mark.parametrize("decided, meeting, offset", [
    ("2026-11-25T10:00:00+00:00", "2026-11-26T10:00:00+00:00", "+00:00"),
    ("2026-07-01T10:00:00+01:00", "2026-07-02T10:00:00+01:00", "+01:00"),
])
def test_every_time_is_local_to_the_second_with_offset(area, decided, meeting, offset):
    plan = h.run_plan(full_request(area, decided, meeting))
    times = _all_times(plan)
    assert len(times) >= 4
    for t in times:
        assert LOCAL_TIME.match(t), t
    assert plan["decided_at"] == decided and plan["decided_at"].endswith(offset)
    assert plan["meeting_at"] == meeting


@pytest.mark.parametrize("given, local, ooh", [
    ("2026-07-01T08:30:00Z", "2026-07-01T09:30:00+01:00", False),
    ("2026-07-01T16:30:00+00:00", "2026-07-01T17:30:00+01:00", True),
    ("2026-07-01T13:29:59+05:30", "2026-07-01T08:59:59+01:00", True),
    ("2026-11-25T11:59:59-05:00", "2026-11-25T16:59:59+00:00", False),
    ("2026-11-25T12:00:00-05:00", "2026-11-25T17:00:00+00:00", True),
    ("2026-11-25T10:00:00.750+00:00", "2026-11-25T10:00:00+00:00", False),
])
def test_instants_in_other_offsets_are_printed_and_judged_in_local_time(given, local, ooh):
    plan = h.run_plan(h.request("bristol", given, meeting_at=given))
    assert plan["decided_at"] == local
    assert plan["meeting_at"] == local
    assert plan["out_of_hours"] is ooh
    assert all(LOCAL_TIME.match(t) for t in _all_times(plan))


def test_meeting_deadline_printed_with_offset_of_its_own_date():
    plan = h.run_plan(h.request("regional", "2026-10-23T10:00:00+01:00"))  # 3 working days, across 25 Oct
    assert plan["decided_at"] == "2026-10-23T10:00:00+01:00"
    assert plan["meeting_deadline"] == "2026-10-28T17:00:00+00:00"


def test_follow_ups_absent_without_meeting_at():
    for area in AREAS:
        plan = h.run_plan(h.request(area, "2026-11-25T10:00:00+00:00"))
        assert "follow_ups" not in plan and "meeting_at" not in plan


# --- invalid requests ------------------------------------------------------------------------------

GOOD = {"area": "bristol", "decided_at": "2026-11-25T10:00:00+00:00", "children": [{"ref": "A"}]}


def _without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


INVALID = [
    ("unknown area", {**GOOD, "area": "somerset"}, ["area"]),
    ("area not a string", {**GOOD, "area": None}, ["area"]),
    ("missing area", _without(GOOD, "area"), ["area"]),
    ("unknown concern", {**GOOD, "concerns": ["bullying"]}, ["concerns[0]"]),
    ("unknown flag", {**GOOD, "flags": ["serious_harm", "urgent"]}, ["flags[1]"]),
    ("unknown role in involved_services", {**GOOD, "involved_services": ["police", "vicar"]}, ["involved_services[1]"]),
    ("unknown referrer role", {**GOOD, "referrer": "vicar"}, ["referrer"]),
    ("missing decided_at", _without(GOOD, "decided_at"), ["decided_at"]),
    ("decided_at without offset", {**GOOD, "decided_at": "2026-11-25T10:00:00"}, ["decided_at"]),
    ("decided_at a bare date", {**GOOD, "decided_at": "2026-11-25"}, ["decided_at"]),
    ("decided_at not a time", {**GOOD, "decided_at": "yesterday"}, ["decided_at"]),
    ("decided_at a number", {**GOOD, "decided_at": 1764064800}, ["decided_at"]),
    ("meeting_at without offset", {**GOOD, "meeting_at": "2026-11-25T19:00:00"}, ["meeting_at"]),
    ("no children", {**GOOD, "children": []}, ["children"]),
    ("children missing", _without(GOOD, "children"), ["children"]),
    ("child without ref", {**GOOD, "children": [{"age": 3}]}, ["children[0].ref"]),
    ("child unknown education", {**GOOD, "children": [{"ref": "A"}, {"ref": "B", "education": "uni"}]},
     ["children[1].education"]),
    ("child unknown inpatient", {**GOOD, "children": [{"ref": "A", "inpatient": "icu"}]}, ["children[0].inpatient"]),
    ("unknown field", {**GOOD, "colour": "red"}, ["colour"]),
    ("unknown child field", {**GOOD, "children": [{"ref": "A", "name": "Jo"}]}, ["children[0].name"]),
    ("several problems", {"area": "nowhere", "concerns": ["x"], "children": [], "referrer": "vicar"},
     ["area", "concerns[0]", "children", "referrer", "decided_at"]),
]


def _check_invalid(code: int, out: str, err: str, fields: list[str]) -> None:
    assert code == 2, (code, err)
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert all(line.strip() for line in lines)
    named = [line.split(": ", 1)[0] for line in lines]
    assert sorted(named) == sorted(fields), lines


@pytest.mark.parametrize("name, req, fields", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_request_exit_2_one_line_per_problem_naming_the_field(name, req, fields):
    _check_invalid(*h.run_plan_raw(req), fields)


@pytest.mark.parametrize("raw, field", [
    ("not json", "request"),
    ("", "request"),
    ('{"area": "bristol",', "request"),
    (b"\xff\xfe{}", "request"),
    ("[]", "(top level)"),
    ('"bristol"', "(top level)"),
])
def test_unreadable_request_exit_2(raw, field):
    _check_invalid(*h.run_plan_raw(raw), [field])


def test_missing_request_file_exit_2():
    code, out, err = h.run_cli(["--config", str(h.CONFIG_DIR), "plan", str(h.REPO / "no-such-request.json")])
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.startswith("request: ") and len(err.splitlines()) == 1


def test_valid_request_with_every_field_and_nothing_on_stderr():
    code, out, err = h.run_plan_raw(full_request("walsall"))
    assert code == 0 and err == ""
    assert json.loads(out)["area"] == "walsall"


# --- end to end: a real `python -m bot` process -------------------------------------------------------

def test_end_to_end_subprocess_plan_file(tmp_path):
    req = full_request("north-somerset")
    path = tmp_path / "request.json"
    path.write_text(json.dumps(req), encoding="utf-8")
    proc = run_bot("plan", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    plan = json.loads(proc.stdout)
    assert plan == h.run_plan(req)
    assert plan["meeting_deadline"] == "2026-11-25T14:00:00+00:00"  # 4 hours: emergency protection
    assert plan["deadline_rule"]["source"].startswith(h.DOCS["north-somerset"])


def test_dash_reads_the_request_from_stdin():
    req = h.request("bristol", "2026-11-25T16:59:59+00:00", flags=["serious_harm"])
    proc = run_bot("plan", "-", stdin=json.dumps(req))
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["meeting_deadline"] == "2026-11-25T17:00:00+00:00"
    assert plan == h.run_plan(req)


def test_invalid_request_on_stdin_in_a_subprocess():
    proc = run_bot("plan", "-", stdin=json.dumps({"area": "atlantis", "decided_at": "2026-11-25T10:00:00",
                                                   "children": [{"ref": "A"}]}))
    _check_invalid(proc.returncode, proc.stdout, proc.stderr, ["area", "decided_at"])
    proc = run_bot("plan", "-", stdin="{ not json")
    _check_invalid(proc.returncode, proc.stdout, proc.stderr, ["request"])


def test_dash_in_process_reads_stdin_too():
    code, out, err = h.run_cli(["--config", str(h.CONFIG_DIR), "plan", "-"], stdin_text=json.dumps(GOOD))
    assert code == 0 and err == ""
    assert json.loads(out)["area"] == "bristol"


# --- check-config ------------------------------------------------------------------------------------

def test_check_config_on_the_real_config():
    proc = run_bot("check-config")
    assert proc.returncode == 0, proc.stderr
    for area in AREAS:
        assert re.search(rf"^{re.escape(area)}: ok\b", proc.stdout, re.M), proc.stdout


def _broken_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    root = tmp_path / "config"
    shutil.copytree(h.CONFIG_DIR, root)
    target = root / file
    text = target.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not found in {file}: the test needs updating"
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return root


BROKEN = [
    ("north-somerset.yaml", "timescale: {hours: 24}", "timescale: {hours: 0}",
     "config/north-somerset.yaml", "timescales.default.timescale"),
    ("walsall.yaml", "role: sarc\n", "role: sarcc\n", "config/walsall.yaml", "invitees["),
    ("regional.yaml", "level: must", "level: essential", "config/regional.yaml", "invitees["),
    ("bristol.yaml", 'source: "003_2d544eb75ad81283.txt §3.2"', 'source: "003_2d544eb75ad81283.txt section 3.2"',
     "config/bristol.yaml", "source"),
    ("shared/top-tips.yaml", "level: should", "level: maybe", "config/shared/top-tips.yaml", "invitees[0].level"),
]


@pytest.mark.parametrize("file, old, new, shown, path", BROKEN, ids=[b[0] for b in BROKEN])
def test_check_config_names_file_and_path_of_a_broken_value(tmp_path, file, old, new, shown, path):
    root = _broken_copy(tmp_path, file, old, new)
    code, out, err = h.run_cli(["--config", str(root), "check-config"])
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith(shown + ": ")]
    assert lines, err
    assert any(path in line for line in lines), err


def test_check_config_subprocess_on_a_broken_copy(tmp_path):
    root = _broken_copy(tmp_path, "north-somerset.yaml", "timescale: {hours: 24}", "timescale: {hours: 0}")
    proc = run_bot("--config", str(root), "check-config")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert re.search(r"^config/north-somerset\.yaml: timescales\.default\.timescale: ", proc.stderr, re.M), proc.stderr


def test_plan_with_a_broken_config_exits_2_with_nothing_on_stdout(tmp_path):
    root = _broken_copy(tmp_path, "bristol.yaml", "timescale: {working_days: 2}", "timescale: {working_days: two}")
    code, out, err = h.run_plan_raw(GOOD, config=root)
    assert code == 2 and out == "" and "Traceback" not in err
    assert "config/bristol.yaml" in err
