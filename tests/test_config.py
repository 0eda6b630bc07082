"""Area profiles are validated on load: every problem names the file, the path inside it
and what was expected, and `python -m bot check-config` exits non-zero. The areas are
discovered, never listed: what every area must satisfy is in tests/test_areas.py, what the
four published areas say in tests/test_plan_<area>.py and tests/test_four_areas.py. The
sample files edited below are fixtures to break, one at a time."""
import shutil
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.config_loader import DEFAULT_CONFIG_DIR, ConfigError, load_profiles
from bot.core.vocabulary import ROLES

AREAS = sorted(p.stem for p in DEFAULT_CONFIG_DIR.glob("*.yaml"))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    return target


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def problems(config: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_profiles(config)
    return info.value.problems


def test_every_area_loads():
    assert set(load_profiles(DEFAULT_CONFIG_DIR)) == set(AREAS)


def test_a_typo_in_a_key_names_file_and_path(config):
    edit(config / "bristol.yaml", lambda d: d["invitees"][0].update({"levle": "should"}))
    (line,) = problems(config)
    assert line.startswith("config/bristol.yaml: invitees[0].levle:") and "not a known field" in line
    assert line.endswith("allowed here: id, summary, source, level, role, roles_from, only, except, when")


def test_an_unknown_role_lists_what_was_expected(config):
    edit(config / "walsall.yaml", lambda d: d["invitees"][1].update({"role": "teacher"}))
    (line,) = problems(config)
    assert "config/walsall.yaml: invitees[1].role:" in line and "'teacher'" in line and "'education'" in line


def test_an_unknown_flag_in_a_condition_is_reported(config):
    edit(config / "regional.yaml", lambda d: d["timescales"]["rules"][0]["when"].update({"flags_any": ["serious_harn"]}))
    (line,) = problems(config)
    assert line.startswith("config/regional.yaml: timescales.rules[0].when.flags_any[0]:") and "serious_harn" in line


def test_a_missing_field_is_reported(config):
    edit(config / "north-somerset.yaml", lambda d: d["timescales"]["default"].pop("source"))
    assert problems(config) == ["config/north-somerset.yaml: timescales.default.source: is required"]


def test_a_bad_timescale_says_what_is_expected(config):
    edit(config / "bristol.yaml", lambda d: d["timescales"]["default"].update({"timescale": {"working_days": 0}}))
    (line,) = problems(config)
    assert line.startswith("config/bristol.yaml: timescales.default.timescale:") and "working_days" in line


def test_a_citation_to_an_undeclared_document_is_reported(config):
    edit(config / "bristol.yaml", lambda d: d["invitees"][0].update({"source": "999_x.txt §1"}))
    (line,) = problems(config)
    assert line == "config/bristol.yaml: invitees[0].source: cites '999_x.txt', which is not listed under 'documents'"


def test_a_citation_without_a_section_is_reported(config):
    edit(config / "bristol.yaml", lambda d: d["invitees"][0].update({"source": "003_2d544eb75ad81283.txt"}))
    (line,) = problems(config)
    assert line.startswith("config/bristol.yaml: invitees[0].source:") and "§" in line


def test_duplicate_rule_ids_are_reported(config):
    edit(config / "walsall.yaml", lambda d: d["invitees"][1].update({"id": d["invitees"][0]["id"]}))
    assert any("used 2 times" in p for p in problems(config))


def test_an_unquoted_clock_time_is_caught(config):
    text = (config / "walsall.yaml").read_text().replace('close: "17:00"', "close: 17:00")
    (config / "walsall.yaml").write_text(text)
    (line,) = problems(config)
    assert "calendar.office_hours.close" in line and "quoted" in line


def test_broken_yaml_names_the_line(config):
    (config / "regional.yaml").write_text("id: regional\nname: [unclosed\n")
    (line,) = problems(config)
    assert line.startswith("config/regional.yaml: line ") and "not valid YAML" in line


def test_an_error_in_a_shared_fragment_names_the_fragment(config):
    edit(config / "shared" / "top-tips.yaml", lambda d: d["invitees"][0].update({"level": "maybe"}))
    found = problems(config)
    assert found and all(p.startswith("config/shared/top-tips.yaml: invitees[0].level:") for p in found)


def test_the_file_name_must_match_the_id(config):
    (config / "bristol.yaml").rename(config / "bristol-2.yaml")
    assert problems(config) == ["config/bristol-2.yaml: id: 'bristol' must match the file name ('bristol-2')"]


def test_every_broken_profile_is_reported_not_just_the_first(config):
    edit(config / "bristol.yaml", lambda d: d.pop("quorum"))
    edit(config / "walsall.yaml", lambda d: d.pop("escalation"))
    assert {p.split(":")[0] for p in problems(config)} == {"config/bristol.yaml", "config/walsall.yaml"}


def test_a_new_area_is_a_new_file(config):
    text = (config / "bristol.yaml").read_text().replace("id: bristol", "id: bristol-test", 1)
    text = text.replace("closures: []", 'closures: [{date: 2026-12-24, reason: "Office closed for Christmas Eve"}]')
    (config / "bristol-test.yaml").write_text(text)
    profiles = load_profiles(config)
    assert "bristol-test" in profiles
    assert not profiles["bristol-test"].area_calendar.is_working_day(__import__("datetime").date(2026, 12, 24))


def test_a_document_needs_a_title(config):
    edit(config / "bristol.yaml", lambda d: d["documents"].update({"003_2d544eb75ad81283.txt": "Bristol"}))
    (line,) = problems(config)
    assert line.startswith("config/bristol.yaml: documents.003_2d544eb75ad81283.txt:") and "Document" in line


def test_check_config_command(config, capsys):
    assert main(["--config", str(config), "check-config"]) == 0
    out = capsys.readouterr().out
    assert all(f"{area}: ok" in out for area in AREAS)
    edit(config / "bristol.yaml", lambda d: d["quorum"]["roles"][0].update({"role": "social_car"}))
    assert main(["--config", str(config), "check-config"]) == 2
    captured = capsys.readouterr()
    assert "config/bristol.yaml: quorum.roles[0].role:" in captured.err and "Traceback" not in captured.err


def test_roles_vocabulary_matches_the_spec():
    spec = (Path(__file__).resolve().parents[2] / "shared" / "spec" / "plan.md")
    if not spec.exists():
        pytest.skip("shared/spec is not beside this checkout")
    text = spec.read_text()
    section = text[text.index("## Roles"):text.index("## Plan")]
    import re
    assert set(re.findall(r"`([a-z_]+)`", section)) == set(ROLES)


def test_a_meeting_timescale_cannot_be_as_soon_as_practicable(config):
    edit(config / "north-somerset.yaml",
         lambda d: d["timescales"]["rules"][0].update({"timescale": "as_soon_as_practicable"}))
    (line,) = problems(config)
    assert line.startswith("config/north-somerset.yaml: timescales.rules[0]:") and "needs a deadline" in line


def test_migrate_command_applies_and_is_idempotent(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'm.sqlite3'}")
    assert main(["migrate"]) == 0 and main(["migrate"]) == 0
    from bot.adapters.db import migrate
    assert capsys.readouterr().out.count(f"database at revision {migrate.head()}") == 2
