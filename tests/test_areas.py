"""Invariants over every area profile found under config/ (tests/area_invariants.py): a new
area is tested as soon as its file exists, with no list of areas to update."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.config_loader import DEFAULT_CONFIG_DIR, load_profiles
from bot.directory import load_directories

try:
    import area_invariants as inv
except ModuleNotFoundError:  # tests/ imported as a package
    from tests import area_invariants as inv

AREAS = inv.discovered_areas(DEFAULT_CONFIG_DIR)


@pytest.fixture(scope="module")
def profiles():
    return load_profiles(DEFAULT_CONFIG_DIR)


@pytest.fixture(scope="module")
def directories(profiles):
    return load_directories(profiles, DEFAULT_CONFIG_DIR)


def test_every_profile_file_is_an_area_with_a_directory(profiles, directories):
    assert AREAS and set(profiles) == set(AREAS) == set(directories)


@pytest.mark.parametrize("area", AREAS)
def test_citations_resolve_to_a_listed_published_document(profiles, area):
    assert inv.citation_problems(profiles[area]) == []


@pytest.mark.parametrize("area", AREAS)
def test_every_quorum_role_can_be_filled_in_and_out_of_hours(profiles, directories, area):
    assert inv.quorum_problems(profiles[area], directories[area]) == []


@pytest.mark.parametrize("area", AREAS)
def test_generated_requests_plan_without_error_and_never_before_the_decision(profiles, area):
    assert inv.plan_problems(profiles[area]) == []


def test_the_invariants_catch_a_broken_profile(profiles, directories):
    """The checks can fail: a document with no file and no link, a quorum role with no on-call
    contact, and a plan engine that gives a deadline before the decision are each reported."""
    bristol = profiles["bristol"]
    unpublished = bristol.model_copy(update={"documents": {**bristol.documents, "999_missing.txt":
                                                           bristol.documents["003_2d544eb75ad81283.txt"]}})
    if inv.PROTOCOLS.is_dir():
        assert any("999_missing.txt" in p for p in inv.citation_problems(unpublished))
    no_on_call = directories["bristol"].model_copy(update={"contacts": tuple(
        c for c in directories["bristol"].contacts if not (c.role == "police" and c.availability == "on_call"))})
    assert any("on-call contact for the quorum role 'police'" in p for p in inv.quorum_problems(bristol, no_on_call))


def copy_area(config: Path, area: str, new_id: str) -> None:
    """A fifth area: an existing profile and its directory under a new id."""
    text = (config / f"{area}.yaml").read_text(encoding="utf-8")
    (config / f"{new_id}.yaml").write_text(text.replace(f"\nid: {area}\n", f"\nid: {new_id}\n"), encoding="utf-8")
    directory = yaml.safe_load((config / "directory" / f"{area}.yaml").read_text(encoding="utf-8"))
    directory["area"] = new_id
    for i, contact in enumerate(directory["contacts"]):  # people of one area only
        contact["aad_object_id"] = f"00000000-0000-4000-9000-{i:012x}"
    (config / "directory" / f"{new_id}.yaml").write_text(yaml.safe_dump(directory, sort_keys=False), encoding="utf-8")


@pytest.mark.parametrize("area", AREAS)
def test_a_new_valid_area_keeps_the_suite_green(tmp_path, capsys, area):
    """Copy a profile under a new id into a config folder: check-config passes and every
    invariant holds for it, with no code or test change."""
    config, new_id = tmp_path / "config", f"{area}-copy"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    copy_area(config, area, new_id)
    assert main(["--config", str(config), "check-config"]) == 0
    assert f"{new_id}: ok" in capsys.readouterr().out
    assert inv.discovered_areas(config) == sorted([*AREAS, new_id])
    profile = load_profiles(config)[new_id]
    directory = load_directories({new_id: profile}, config)[new_id]
    assert inv.citation_problems(profile) == []
    assert inv.quorum_problems(profile, directory) == []
    assert inv.plan_problems(profile, count=40) == []
