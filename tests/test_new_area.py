"""`python -m bot new-area ID` and directories as part of an area: the skeleton it writes is
refused by check-config (naming each TODO) until it is filled in, then passes; an area without
a valid directory fails check-config and stops `serve` before it starts."""
from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.config_loader import DEFAULT_CONFIG_DIR

try:
    import area_invariants as inv
except ModuleNotFoundError:  # tests/ imported as a package
    from tests import area_invariants as inv


@pytest.fixture
def config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    return target


def fill_in(path: Path) -> None:
    """What the business manager does: replace every TODO with what the protocol says."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))

    def fill(value, key=""):
        if isinstance(value, dict):
            return {str(k).replace("TODO-protocol.pdf", "somerset-procedure.pdf"): fill(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v, key) for v in value]
        if not (isinstance(value, str) and "TODO" in value):
            return value
        if key in ("aad_object_id", "tenant_id"):
            return str(uuid.uuid4())
        if key == "email":
            return f"{uuid.uuid4().hex[:8]}@somerset.example"
        if key == "phone":
            return "01632 960000"
        if key == "source":
            return "somerset-procedure.pdf §3"
        return "As the procedure says"

    path.write_text(yaml.safe_dump(fill(data), sort_keys=False, allow_unicode=True), encoding="utf-8")


def test_the_skeleton_names_every_placeholder_then_passes_once_filled(config, capsys):
    assert main(["--config", str(config), "new-area", "somerset"]) == 0
    out = capsys.readouterr().out
    profile, directory = config / "somerset.yaml", config / "directory" / "somerset.yaml"
    assert f"wrote {profile}" in out and f"wrote {directory}" in out
    assert profile.read_text().startswith("# yaml-language-server: $schema=schema/profile.schema.json")

    assert main(["--config", str(config), "check-config"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "config/somerset.yaml: name: still a placeholder from the skeleton (TODO…): fill it in" in err
    assert "config/somerset.yaml: escalation.source: still a placeholder from the skeleton (TODO…): fill it in" in err
    assert all(line.startswith("config/somerset.yaml: ") for line in err)

    fill_in(profile)
    assert main(["--config", str(config), "check-config"]) == 2  # the directory is still the skeleton's
    err = capsys.readouterr().err.splitlines()
    assert err and all(line.startswith("config/directory/somerset.yaml: contacts[") for line in err)
    assert "config/directory/somerset.yaml: contacts[0].email: still a placeholder from the skeleton (TODO…): fill it in" in err

    fill_in(directory)
    assert main(["--config", str(config), "check-config"]) == 0
    assert "somerset: ok" in capsys.readouterr().out
    (config / "somerset-procedure.pdf").touch()
    from bot.config_loader import load_profiles
    from bot.directory import load_directories
    somerset = load_profiles(config)["somerset"]
    assert inv.citation_problems(somerset, protocols=config) == []
    assert inv.quorum_problems(somerset, load_directories({"somerset": somerset}, config)["somerset"]) == []
    assert inv.plan_problems(somerset, count=40) == []


def test_new_area_never_overwrites_and_checks_the_id(config, capsys):
    before = (config / "bristol.yaml").read_text()
    assert main(["--config", str(config), "new-area", "bristol"]) == 2
    assert "already exist" in capsys.readouterr().err and (config / "bristol.yaml").read_text() == before
    assert main(["--config", str(config), "new-area", "North Somerset"]) == 2
    assert "area id 'North Somerset'" in capsys.readouterr().err


def test_an_area_without_a_directory_fails_check_config(config, capsys):
    (config / "directory" / "walsall.yaml").unlink()
    assert main(["--config", str(config), "check-config"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("config/directory/walsall.yaml: no directory for this area")


def test_a_directory_is_checked_against_its_area(config, capsys):
    path = config / "directory" / "regional.yaml"
    data = yaml.safe_load(path.read_text())
    data["contacts"] = [c for c in data["contacts"]
                        if not (c["role"] in ("police",) and c["availability"] in ("on_call", "always"))]
    data["contacts"][0]["role"] = "barnardos"
    data["contacts"][1]["email"] = "not-an-address"
    data["contacts"][2]["aad_object_id"] = "1234"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["--config", str(config), "check-config"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [re.sub(r":.*", "", line.split(": ", 1)[1]) for line in err] == \
        ["contacts[1].email", "contacts[2].aad_object_id"]  # malformed values first, with what is expected
    assert "name@agency.example" in err[0] and "GUID" in err[1]
    data["contacts"][1]["email"] = "fixed@agency.example"
    data["contacts"][2]["aad_object_id"] = "00000000-0000-4000-8000-00000000beef"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["--config", str(config), "check-config"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "config/directory/regional.yaml: contacts[0].role: 'barnardos' is not a role of regional; expected a role of "
        "the contract or one the profile declares under 'roles'",
        "config/directory/regional.yaml: contacts: no on-call contact for the quorum role 'police' (a contact with "
        "role police and availability on_call or always)",
    ]


def test_serve_refuses_to_start_on_an_invalid_directory(config, capsys, monkeypatch):
    (config / "directory" / "bristol.yaml").unlink()
    started = []
    monkeypatch.setenv("STRATBOT_CONFIG_DIR", str(config))  # serve sets it from --config; restored after
    monkeypatch.setattr("bot.app.main", lambda: started.append(True) or 0)
    assert main(["--config", str(config), "serve"]) == 2
    assert started == [] and "config/directory/bristol.yaml: no directory" in capsys.readouterr().err
    shutil.copy(DEFAULT_CONFIG_DIR / "directory" / "bristol.yaml", config / "directory" / "bristol.yaml")
    assert main(["--config", str(config), "serve"]) == 0 and started == [True]


def test_check_config_reports_the_directories_of_valid_areas_when_another_area_is_broken(config, capsys):
    edit_text = (config / "bristol.yaml").read_text().replace("level: should", "level: shuold", 1)
    (config / "bristol.yaml").write_text(edit_text)
    (config / "directory" / "walsall.yaml").unlink()
    assert main(["--config", str(config), "check-config"]) == 2
    files = {line.split(":")[0] for line in capsys.readouterr().err.splitlines()}
    assert files == {"config/bristol.yaml", "config/directory/walsall.yaml"}
