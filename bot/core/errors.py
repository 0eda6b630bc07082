"""Turn pydantic validation errors into one plain line per problem, naming the field."""
from __future__ import annotations

import re
from typing import Callable

from pydantic import ValidationError


def field_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("function-after", "function-before", "function-plain") or str(part).startswith(("function-", "literal[")):
            continue  # pydantic's internal validator names are not fields
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


# Given an error's location, the keys allowed in the mapping there (from the JSON Schema).
AllowedKeys = Callable[[tuple], "list[str] | None"]


def _describe(err: dict, allowed: AllowedKeys | None = None) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        keys = allowed(tuple(err["loc"][:-1])) if allowed else None
        return "is not a known field" + (f"; allowed here: {', '.join(keys)}" if keys else "")
    if kind == "literal_error":
        return f"unknown value {value!r}; expected one of {ctx.get('expected', '')}"
    if kind == "too_short" and isinstance(value, list | tuple | dict):
        return f"needs at least {ctx.get('min_length', 1)} item(s)"
    message = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind not in ("value_error", "assertion_error") and value is not None and not isinstance(value, dict | list):
        message += f" (got {value!r})"
    return message


# A whole-model check that finds several problems reports them one per line, each starting
# with its own path ("roles[0].fills: ..."): they are shown as they are.
_PATHED_LINE = re.compile(r"^(\(top level\)|[a-z_][\w.\[\]]*): ")


def describe_validation_error(exc: ValidationError, allowed: AllowedKeys | None = None) -> list[str]:
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        value, min_length = err.get("input"), (err.get("ctx") or {}).get("min_length", 0)
        if err["type"] == "too_short" and isinstance(value, list | tuple) and len(value) >= min_length:
            continue  # pydantic repeats an item's error as a length error; the item's own line says it
        message = _describe(err, allowed)
        parts = message.split("\n")
        if err["type"] == "value_error" and all(_PATHED_LINE.match(p) for p in parts):
            prefix = "" if not err["loc"] else field_path(err["loc"]) + "."
            lines += [p if p.startswith("(top level)") or not prefix else prefix + p for p in parts]
        else:
            lines.append(f"{field_path(err['loc'])}: {message}")
    return list(dict.fromkeys(lines))
