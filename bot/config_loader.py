"""Read area profiles from config/*.yaml and report every problem with file and path.

This is the I/O edge around bot.core.profile: a profile is one YAML file whose name is its
id; `include:` pulls in shared fragments from config/shared/ (validated on their own, so
their errors name their own file).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .core.errors import describe_validation_error
from .core.profile import Fragment, Profile

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


class ConfigError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def config_dir() -> Path:
    return Path(os.environ.get("STRATBOT_CONFIG_DIR") or DEFAULT_CONFIG_DIR)


def _read_yaml(path: Path, shown: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([f"{shown}: cannot be read ({e.strerror})"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError([f"{shown}: {where}: not valid YAML: {problem}"]) from None


PLACEHOLDER = re.compile(r"\bTODO\b")


def placeholders(data: Any, path: str = "") -> list[str]:
    """Paths still holding a skeleton's placeholder (TODO in a key or a text), as written by
    `python -m bot new-area`."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            here = f"{path}.{key}" if path else str(key)
            if PLACEHOLDER.search(str(key)):
                found.append(here)
            found += placeholders(value, here)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += placeholders(value, f"{path}[{i}]")
    elif isinstance(data, str) and PLACEHOLDER.search(data):
        found.append(path or "(top level)")
    return found


def _validated(model, data: Any, shown: str):
    unfinished = placeholders(data)
    if unfinished:
        raise ConfigError([f"{shown}: {path}: still a placeholder from the skeleton (TODO…): fill it in"
                           for path in unfinished])
    if not isinstance(data, dict):
        raise ConfigError([f"{shown}: (top level): expected a mapping of settings, found {type(data).__name__}"])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        from .schema import MODELS, allowed_keys  # the schema is generated from the models that import this module

        name = next((n for n, m in MODELS.items() if m is model), None)
        allowed = (lambda loc: allowed_keys(name, loc)) if name else None
        raise ConfigError([f"{shown}: {line}" for line in describe_validation_error(exc, allowed)]) from None


def load_profile(path: Path, root: Path | None = None) -> Profile:
    root = root or path.parent
    shown = _shown(path, root)
    data = _read_yaml(path, shown)
    if isinstance(data, dict):
        data = _with_includes(data, root, shown)
    profile = _validated(Profile, data, shown)
    if profile.id != path.stem:
        raise ConfigError([f"{shown}: id: '{profile.id}' must match the file name ('{path.stem}')"])
    return profile


def _with_includes(data: dict, root: Path, shown: str) -> dict:
    includes = data.get("include") or []
    if not isinstance(includes, list):
        raise ConfigError([f"{shown}: include: expected a list of files under config/"])
    merged = dict(data)
    for i, name in enumerate(includes):
        target = (root / str(name)).resolve()
        if root.resolve() not in target.parents or not target.is_file():
            raise ConfigError([f"{shown}: include[{i}]: no such file '{name}' under {root}"])
        fragment_shown = _shown(target, root)
        raw = _read_yaml(target, fragment_shown)
        _validated(Fragment, raw, fragment_shown)  # errors name the fragment's own file
        merged["documents"] = {**raw.get("documents", {}), **(merged.get("documents") or {})}
        for key in ("invitees", "preparation"):
            merged[key] = [*(merged.get(key) or []), *raw.get(key, [])]
    return merged


def _shown(path: Path, root: Path) -> str:
    try:
        return str(Path(root.name) / path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def profile_paths(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*.yaml") if p.is_file())


def load_profiles(root: Path | None = None) -> dict[str, Profile]:
    """Every profile under root, or ConfigError listing the problems of all of them."""
    profiles, problems = load_each_profile(root)
    if problems:
        raise ConfigError(problems)
    return profiles


def load_each_profile(root: Path | None = None) -> tuple[dict[str, Profile], list[str]]:
    """The profiles that load, and the problems of those that do not (so a checker can go on
    to check the valid areas' directories)."""
    root = root or config_dir()
    if not root.is_dir():
        return {}, [f"{root}: the configuration folder does not exist"]
    profiles, problems = {}, []
    for path in profile_paths(root):
        try:
            profile = load_profile(path, root)
        except ConfigError as e:
            problems += e.problems
        else:
            profiles[profile.id] = profile
    problems = list(dict.fromkeys(problems))  # a broken shared fragment is reported once
    if not profiles and not problems:
        problems.append(f"{root}: no area profiles (*.yaml) found")
    return profiles, problems
