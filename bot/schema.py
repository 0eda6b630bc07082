"""The JSON Schemas of the configuration files, generated from the pydantic models that
validate them (one truth): config/schema/profile.schema.json (an area profile),
fragment.schema.json (config/shared/*.yaml) and directory.schema.json (config/directory/*.yaml).

They are committed so that an editor can complete and check a profile as it is written
(`# yaml-language-server: $schema=schema/profile.schema.json` at the top of the file);
`python -m bot schema --write` regenerates them, a test fails when they are stale, and
`check-config` uses them to say which keys are allowed where a key is not known.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .core.profile import Fragment, Profile
from .directory import Directory

MODELS: dict[str, type[BaseModel]] = {"profile": Profile, "fragment": Fragment, "directory": Directory}
TITLES = {
    "profile": "Strategy-meeting bot: area profile (config/<area>.yaml)",
    "fragment": "Strategy-meeting bot: shared rules (config/shared/*.yaml, pulled in by a profile's include)",
    "directory": "Strategy-meeting bot: contact directory (config/directory/<area>.yaml)",
}
SCHEMA_DIR = "schema"


@cache
def json_schema(name: str) -> dict[str, Any]:
    """The schema of one kind of file (cached: treat it as read-only)."""
    schema = MODELS[name].model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": TITLES[name]}


def render(name: str) -> str:
    return json.dumps(json_schema(name), indent=2, ensure_ascii=False) + "\n"


def schema_path(config: Path, name: str) -> Path:
    return config / SCHEMA_DIR / f"{name}.schema.json"


def write_schemas(config: Path) -> list[Path]:
    paths = []
    for name in MODELS:
        path = schema_path(config, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(name), encoding="utf-8")
        paths.append(path)
    return paths


def stale_schemas(config: Path) -> list[Path]:
    """The committed schema files that no longer match the models (or are missing)."""
    stale = []
    for name in MODELS:
        path = schema_path(config, name)
        if not path.is_file() or path.read_text(encoding="utf-8") != render(name):
            stale.append(path)
    return stale


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _branches(schema: dict, root: dict) -> list[dict]:
    schema = _resolve(schema, root)
    out = [schema]
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, ()):
            out += _branches(branch, root)
    return out


def allowed_keys(name: str, loc: tuple) -> list[str] | None:
    """The keys the schema allows in the mapping at `loc` (a pydantic error location, whose
    internal parts such as 'function-after[...]' are skipped); None when it cannot tell."""
    root = json_schema(name)
    nodes = [root]
    for part in loc:
        if isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue
        following = []
        for node in nodes:
            for branch in _branches(node, root):
                if isinstance(part, int) and isinstance(branch.get("items"), dict):
                    following.append(branch["items"])
                elif isinstance(part, str) and part in branch.get("properties", {}):
                    following.append(branch["properties"][part])
                elif isinstance(part, str) and isinstance(branch.get("additionalProperties"), dict):
                    following.append(branch["additionalProperties"])
        if not following:
            return None
        nodes = following
    keys = [k for node in nodes for b in _branches(node, root) for k in b.get("properties", {})]
    return list(dict.fromkeys(keys)) or None
