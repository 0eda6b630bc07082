"""Input checks shared by the stores: bad input is refused (ValueError/TypeError) before
anything is written, naming the field; and `_record`, which copies a row into its plain record."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

R = TypeVar("R")


def _record(cls: type[R], row: object) -> R:
    return cls(**{f.name: getattr(row, f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


def _columns(model: Any, cls: type) -> list[Any]:
    """The table columns that make up record `cls`, in the record's field order, to select
    them as plain rows with a Core statement built once (see StoreBase._core): a row becomes
    its record by position (`cls(*row)`). On the hot paths (an answer reads its invitation,
    meeting and invitations) that costs a fifth of the CPU of an ORM select built per call."""
    return [model.__table__.c[f.name] for f in dataclasses.fields(cls)]


# --- input checks -------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _text(name: str, value: object, *, optional: bool = False) -> str | None:
    """A string as given (never trimmed or truncated), refusing what a database would
    mangle or reject: NUL characters (PostgreSQL refuses them, SQLite keeps them)."""
    if value is None:
        if optional:
            return None
        raise ValueError(f"{name} is required")
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    if "\x00" in value:
        raise ValueError(f"{name} contains a NUL character")
    if not optional and not value.strip():
        raise ValueError(f"{name} must not be blank")
    return value


def _choice(name: str, value: object, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} {value!r} is not one of {', '.join(allowed)}")
    return value  # type: ignore[return-value]


def _instant(name: str, value: object, *, optional: bool = False) -> datetime | None:
    if value is None and optional:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} {value.isoformat()} has no time zone")
    return value.astimezone(timezone.utc)


def _json(name: str, value: object) -> dict[str, Any]:
    """A JSON object, normalised by a round trip so that what is returned is exactly what
    a later read gives back (tuples become lists, ...). Accepts domain objects that know
    how to become JSON (`model_dump` from pydantic, `to_dict` like the Plan)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    elif hasattr(value, "to_dict"):
        value = value.to_dict()
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a JSON object (a mapping), not {type(value).__name__}")
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} is not valid JSON: {e}") from None
    if "\\u0000" in text:
        raise ValueError(f"{name} contains a NUL character")
    return json.loads(text)
