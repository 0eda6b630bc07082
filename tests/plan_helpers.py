"""Helpers for the plan tests: run `python -m bot plan` in-process and read its answer.

`run_plan(request)` writes the request to a temporary file and calls `bot.cli.main(["plan",
path])` exactly as the command line would (argument parsing, reading the file, validation,
planning, JSON on stdout), capturing stdout/stderr with contextlib. It returns the decoded
plan and fails the test if the exit status is not 0 or anything was written to stderr.

`run_plan_raw(request)` returns `(exit_code, stdout, stderr)` for any request: a dict (sent as
JSON), or a str/bytes sent verbatim (to test non-JSON input).

Loading the four profiles costs ~0.1 s, more than the rest of a run, so while the CLI runs
`bot.cli.load_profiles` is wrapped by a memo keyed on the config folder's files and their
mtimes/sizes: a profile edited while tests run is reloaded. Profile loading itself is
tested uncached by the subprocess and check-config tests in test_plan_contract.py.

Expected values in the tests are derived from the protocols (shared/protocols/) and the
contract (shared/spec/plan.md), not from the YAML profiles.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable
from unittest import mock

import bot.cli as cli

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "config"

DOCS = {
    "north-somerset": "000_4a46cd0701b955a5.txt",
    "regional": "001_e93436e8efe9093b.txt",
    "walsall": "002_cf3891b0befb602d.txt",
    "bristol": "003_2d544eb75ad81283.txt",
}
TOP_TIPS = "004_e075efc701440f6e.txt"
QUORUM_ROLES = {"social_care", "health", "police"}
LEVELS = ("quorum", "must", "should")

_real_load_profiles = cli.load_profiles
_profile_cache: dict[tuple, Any] = {}


def _fingerprint(root: Path) -> tuple:
    files = sorted(p for p in root.rglob("*.yaml") if p.is_file())
    return (str(root.resolve()),) + tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)


def _memo_load_profiles(root: Path | None = None):
    root = Path(root) if root is not None else CONFIG_DIR
    if not root.is_dir():
        return _real_load_profiles(root)  # let the real loader report it
    key = _fingerprint(root)
    if key not in _profile_cache:
        _profile_cache.clear()
        _profile_cache[key] = _real_load_profiles(root)  # a ConfigError is raised, not cached
    return _profile_cache[key]


def run_cli(argv: list[str], stdin_text: str | None = None) -> tuple[int, str, str]:
    """bot.cli.main(argv) in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    patches = [mock.patch.object(cli, "load_profiles", _memo_load_profiles)]
    if stdin_text is not None:
        patches.append(mock.patch("sys.stdin", io.StringIO(stdin_text)))
    with contextlib.ExitStack() as stack:
        for p in patches:
            stack.enter_context(p)
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            code = cli.main(argv)
        except SystemExit as e:  # argparse usage errors
            code = e.code if isinstance(e.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def run_plan_raw(request: dict | str | bytes, config: Path | None = None) -> tuple[int, str, str]:
    """Run `plan` on a request file; the request is a dict (JSON) or raw text/bytes."""
    if isinstance(request, dict):
        data = json.dumps(request).encode("utf-8")
    elif isinstance(request, str):
        data = request.encode("utf-8")
    else:
        data = request
    fd, path = tempfile.mkstemp(prefix="plan-request-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return run_cli(["--config", str(config or CONFIG_DIR), "plan", path])
    finally:
        os.unlink(path)


def run_plan(request: dict) -> dict:
    code, out, err = run_plan_raw(request)
    assert code == 0, f"exit {code}; stderr:\n{err}"
    assert err == "", f"unexpected stderr:\n{err}"
    return json.loads(out)


# --- building requests -------------------------------------------------------------

def request(area: str, decided_at: str, *, children: Iterable[dict] | int = 1, meeting_at: str | None = None,
            concerns: Iterable[str] = (), flags: Iterable[str] = (), referrer: str | None = None,
            involved: Iterable[str] = ()) -> dict:
    """A valid request; `children` is a list of child dicts or a number of plain children."""
    if isinstance(children, int):
        children = [{"ref": f"C{i + 1}"} for i in range(children)]
    req: dict[str, Any] = {
        "area": area, "decided_at": decided_at, "children": list(children),
        "concerns": list(concerns), "flags": list(flags), "involved_services": list(involved),
    }
    if meeting_at is not None:
        req["meeting_at"] = meeting_at
    if referrer is not None:
        req["referrer"] = referrer
    return req


def child(ref: str = "C1", **kw: Any) -> dict:
    return {"ref": ref, **kw}


# --- reading plans --------------------------------------------------------------------

def invitee(plan: dict, role: str) -> dict | None:
    found = [i for i in plan["invitees"] if i["role"] == role]
    assert len(found) <= 1, f"role {role} appears {len(found)} times"
    return found[0] if found else None


def level(plan: dict, role: str) -> str | None:
    inv = invitee(plan, role)
    return None if inv is None else inv["level"]


def reason_rules(plan: dict, role: str) -> list[str]:
    inv = invitee(plan, role)
    return [] if inv is None else [r["rule"] for r in inv["reasons"]]


def reason_sources(plan: dict, role: str) -> list[str]:
    inv = invitee(plan, role)
    return [] if inv is None else [r["source"] for r in inv["reasons"]]


def roles(plan: dict) -> set[str]:
    return {i["role"] for i in plan["invitees"]}


def matched_ids(plan: dict) -> list[str]:
    return [m["id"] for m in plan["matched_rules"]]


def follow_up(plan: dict, kind: str) -> dict | None:
    found = [f for f in plan.get("follow_ups", []) if f["kind"] == kind]
    assert len(found) <= 1, f"follow-up {kind} appears {len(found)} times"
    return found[0] if found else None


def follow_up_kinds(plan: dict) -> set[str]:
    return {f["kind"] for f in plan.get("follow_ups", [])}


def assert_cites(source: str, doc: str, section: str | None = None) -> None:
    assert source.startswith(f"{doc} §"), f"{source!r} does not cite {doc}"
    if section is not None:
        assert source == f"{doc} §{section}", f"{source!r} is not {doc} §{section}"


def assert_sources_of_area(plan: dict) -> None:
    """Every rule and reason in the plan has a non-empty source naming the area's own
    document (or 004, the shared agency checklist, for invitee reasons)."""
    doc = DOCS[plan["area"]]
    for rule in [plan["deadline_rule"], *plan["matched_rules"]]:
        assert rule["source"].startswith(f"{doc} §"), rule
        assert rule["summary"].strip() and rule["id"].strip(), rule
    for inv in plan["invitees"]:
        assert inv["reasons"], inv
        for r in inv["reasons"]:
            assert r["source"].strip() and r["summary"].strip() and r["rule"].strip(), (inv["role"], r)
            assert r["source"].startswith((f"{doc} §", f"{TOP_TIPS} §")), (inv["role"], r)
    for f in plan.get("follow_ups", []):
        assert f["rule"]["source"].startswith(f"{doc} §"), f
