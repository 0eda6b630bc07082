"""One truth for the schema: the committed JSON Schemas are generated from the pydantic models,
accept every configuration file, are named by each file for editors, and the README's schema
section lists what the model accepts."""
from __future__ import annotations

import json
import re
import shutil

import jsonschema
import pytest
import yaml

from bot.cli import main
from bot.config_loader import DEFAULT_CONFIG_DIR
from bot.core.conditions import Condition
from bot.core.calendar import COUNTED_KINDS
from bot.core.profile import NAMED_TIMESCALES
from bot.schema import MODELS, json_schema, render, schema_path, stale_schemas

README = DEFAULT_CONFIG_DIR.parent / "README.md"
FILES = {
    "profile": sorted(DEFAULT_CONFIG_DIR.glob("*.yaml")),
    "fragment": sorted((DEFAULT_CONFIG_DIR / "shared").glob("*.yaml")),
    "directory": sorted((DEFAULT_CONFIG_DIR / "directory").glob("*.yaml")),
}


def test_the_committed_schemas_are_generated_from_the_models():
    assert stale_schemas(DEFAULT_CONFIG_DIR) == [], "run `python -m bot schema --write`"


def test_check_config_fails_on_a_stale_schema(tmp_path, capsys):
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    path = schema_path(config, "profile")
    path.write_text(render("profile").replace('"immediate",', ""))
    assert main(["--config", str(config), "check-config"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: out of date with the profile model; run `python -m bot schema --write`" in err
    assert main(["--config", str(config), "schema", "--write"]) == 0
    assert main(["--config", str(config), "check-config"]) == 0


@pytest.mark.parametrize("kind", MODELS)
def test_every_configuration_file_is_valid_against_its_schema(kind):
    validator = jsonschema.Draft202012Validator(json_schema(kind))
    assert FILES[kind]
    for path in FILES[kind]:
        data = json.loads(json.dumps(yaml.safe_load(path.read_text(encoding="utf-8")), default=str))  # as an editor sees YAML dates
        assert [e.message for e in validator.iter_errors(data)] == [], path


@pytest.mark.parametrize("kind", MODELS)
def test_a_file_that_names_a_schema_names_its_own(kind):
    """The first line `# yaml-language-server: $schema=...` (optional) points an editor at the
    right schema; the four areas' files and the new-area skeleton carry it."""
    named = 0
    for path in FILES[kind]:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        if "$schema=" in first:
            named += 1
            assert (path.parent / first.split("$schema=", 1)[1]).resolve() == schema_path(DEFAULT_CONFIG_DIR, kind).resolve(), path
    assert named >= 1


def test_the_schema_rejects_what_the_model_rejects():
    validator = jsonschema.Draft202012Validator(json_schema("profile"))
    data = yaml.safe_load((DEFAULT_CONFIG_DIR / "bristol.yaml").read_text())
    data["invitees"][0]["levle"] = "should"
    data["timescales"]["default"]["timescale"] = {"working_days": 0}
    data["quorum"]["roles"][0]["role"] = "Social Care"
    assert len(list(validator.iter_errors(data))) == 3


def _readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index("## Area profiles"):text.index("## The bot in Teams")]


def test_the_readme_table_of_sections_is_the_models():
    """Name, required and description of every top-level section, as the model (and so the
    editor's hover text) has them; a new section must be added to the README's table."""
    schema = json_schema("profile")
    expected = [
        f"| `{name}` | {'yes' if name in schema['required'] else 'no'} | {field['description'].replace('|', chr(92) + '|')} |"
        for name, field in schema["properties"].items()
    ]
    rows = re.findall(r"^\| `[a-z_]+` \| (?:yes|no) \| .* \|$", _readme_section(), re.M)
    assert rows == expected, "README rows should read:\n" + "\n".join(expected)


def test_the_readme_lists_the_timescale_kinds_and_condition_keys_the_model_accepts():
    section = _readme_section()
    kinds = section[section.index("Timescale kinds:"):section.index("(H and N")]
    listed_kinds = {a or b for a, b in re.findall(r"`([a-z_]+)`|`\{([a-z_]+): [HN]\}`", kinds)}
    assert listed_kinds == {*NAMED_TIMESCALES, *COUNTED_KINDS}
    keys = section[section.index("ANDed):"):section.index("Unknown keys")]
    listed = set(re.findall(r"`([a-z_]+)(?::[^`]*)?`", keys))
    child = set(json_schema("profile")["$defs"]["ChildCondition"]["properties"])
    condition = {f.alias or name for name, f in Condition.model_fields.items()}
    assert listed == condition | child
