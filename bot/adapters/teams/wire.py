"""Reading an activity off the wire, before anything else sees it: bounded, strict JSON,
strings made safe for the database, and the fields the bot relies on checked for shape.

Everything here is plain Python (no botbuilder, no aiohttp) and raises `Rejected` with a
short reason a caller may see; nothing in the reason echoes the input.

The limits, and why:
* MAX_BODY_BYTES, 512 KiB: Teams caps an outgoing message (text, cards and attachments
  together) at about 100 KB, and an incoming activity is that message plus an envelope of
  ids, names and channel data of a few KB. Five times that leaves room for a verbose client
  or a future field without letting anyone make the bot buffer megabytes.
* MAX_DEPTH, 64: an Adaptive Card nests containers in columns in containers; the deepest
  real activity we have seen is under 20 levels. Python's json and msrest recurse, so an
  unbounded depth is a RecursionError waiting to happen.
* MAX_DIGITS, 32 characters per number literal: ids and counts are far shorter; Python
  refuses to turn more than 4,300 digits into an int and spends quadratic time getting
  there. Floats must be finite (1e309 is infinity).
"""
from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

MAX_BODY_BYTES = 512 * 1024
MAX_DEPTH = 64
MAX_DIGITS = 32
MAX_AUTHORIZATION_BYTES = 16 * 1024  # a Bot Framework token is 1-3 KB; Entra's largest well under 8 KB


class Rejected(ValueError):
    """The request cannot be processed as sent. `status` is the HTTP status to answer with."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def _int(literal: str) -> int:
    if len(literal) > MAX_DIGITS:
        raise Rejected("a number in the body is too long")
    return int(literal)


def _float(literal: str) -> float:
    if len(literal) > MAX_DIGITS:
        raise Rejected("a number in the body is too long")
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise Rejected("a number in the body is out of range")
    return value


def _constant(name: str) -> Any:
    raise Rejected(f"the body is not valid JSON ({name} is not a JSON value)")


def decode_json(raw: bytes, content_type: str | None) -> Any:
    """Bytes to a JSON value within the limits above, with every string made safe."""
    charset = _charset(content_type)
    if charset not in ("utf-8", "utf8"):
        raise Rejected("the body must be UTF-8 JSON (Content-Type: application/json; charset=utf-8)", 415)
    if len(raw) > MAX_BODY_BYTES:
        raise Rejected(f"the body is larger than {MAX_BODY_BYTES // 1024} KiB", 413)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected("the body is not valid UTF-8") from None
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise Rejected("the body is nested too deeply") from None
    except json.JSONDecodeError:
        raise Rejected("the body is not valid JSON") from None
    return _clean(value)


def _charset(content_type: str | None) -> str:
    match = re.search(r";\s*charset\s*=\s*\"?([^\";\s]+)", content_type or "", re.IGNORECASE)
    return match.group(1).lower() if match else "utf-8"


def clean_text(s: str) -> str:
    """NUL removed (PostgreSQL text cannot hold it) and lone surrogates (JSON's "\\ud800",
    which no database or encoder accepts) replaced by U+FFFD."""
    if "\x00" in s:
        s = s.replace("\x00", "")
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            s = s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return s


def _clean(root: Any) -> Any:
    """Depth check and string cleaning in one walk, without recursion."""
    if isinstance(root, str):
        return clean_text(root)
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Rejected("the body is nested too deeply")
        if isinstance(node, dict):
            if any(isinstance(k, str) and not _safe(k) for k in node):
                cleaned = {clean_text(k): v for k, v in node.items()}
                node.clear()
                node.update(cleaned)
            for k, v in node.items():
                if isinstance(v, str):
                    if not _safe(v):
                        node[k] = clean_text(v)
                elif isinstance(v, (dict, list)):
                    stack.append((v, depth + 1))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                if isinstance(v, str):
                    if not _safe(v):
                        node[i] = clean_text(v)
                elif isinstance(v, (dict, list)):
                    stack.append((v, depth + 1))
    return root


def _safe(s: str) -> bool:
    return "\x00" not in s and (s.isascii() or clean_text(s) is s)


# --- the activity's shape -----------------------------------------------------------------

_OBJECT_FIELDS = ("from", "recipient", "conversation", "channelData")
_STRING_FIELDS = ("id", "type", "name", "text", "channelId", "serviceUrl", "replyToId", "locale",
                  "timestamp", "localTimestamp", "textFormat", "action")
_LIST_FIELDS = ("membersAdded", "membersRemoved", "attachments", "entities")


def check_activity(body: Any) -> dict:
    """The fields the bot reads, present and of the right type; the reason names the field."""
    if not isinstance(body, dict):
        raise Rejected("the body is not a Bot Framework activity (expected a JSON object)")
    if not isinstance(body.get("type"), str) or not body["type"]:
        raise Rejected("the body is not a Bot Framework activity (it needs a 'type')")
    for name in _OBJECT_FIELDS:
        if name in body and body[name] is not None and not isinstance(body[name], dict):
            raise Rejected(f"{name}: expected an object")
    for name in _STRING_FIELDS:
        if name in body and body[name] is not None and not isinstance(body[name], str):
            raise Rejected(f"{name}: expected a string")
    for name in _LIST_FIELDS:
        if name in body and body[name] is not None and not isinstance(body[name], list):
            raise Rejected(f"{name}: expected a list")
        for i, item in enumerate(body.get(name) or []):
            if not isinstance(item, dict):
                raise Rejected(f"{name}[{i}]: expected an object")
    _check_id(body, "conversation", required=True)
    _check_id(body, "from", required=True)
    _check_id(body, "recipient", required=False)
    for name in ("membersAdded", "membersRemoved"):
        for i, member in enumerate(body.get(name) or []):
            if not isinstance(member.get("id"), str):
                raise Rejected(f"{name}[{i}].id: expected a string")
    for key in ("aadObjectId", "name"):
        sender = body["from"]
        if sender.get(key) is not None and not isinstance(sender[key], str):
            raise Rejected(f"from.{key}: expected a string")
    tenant_id = body["conversation"].get("tenantId")
    if tenant_id is not None and not isinstance(tenant_id, str):
        raise Rejected("conversation.tenantId: expected a string")
    channel_data = body.get("channelData") or {}
    if "tenant" in channel_data and channel_data["tenant"] is not None:
        if not isinstance(channel_data["tenant"], dict):
            raise Rejected("channelData.tenant: expected an object")
        if not isinstance(channel_data["tenant"].get("id", ""), str):
            raise Rejected("channelData.tenant.id: expected a string")
    if body["type"] == "invoke" and not body.get("name"):
        raise Rejected("name: an invoke needs a name")
    check_service_url(body.get("serviceUrl"))
    return body


def _check_id(body: dict, name: str, *, required: bool) -> None:
    part = body.get(name)
    if part is None:
        if required:
            raise Rejected(f"{name}: missing")
        return
    if not isinstance(part.get("id"), str) or not part["id"].strip():
        raise Rejected(f"{name}.id: expected a non-empty string")


def check_service_url(value: Any) -> None:
    """Where the replies go: an absolute http(s) URL with a host (Teams' are https)."""
    if not isinstance(value, str) or not value:
        raise Rejected("serviceUrl: missing")
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        raise Rejected("serviceUrl: not a usable URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok or len(value) > 2048 \
            or any(c.isspace() or ord(c) < 32 for c in value):
        raise Rejected("serviceUrl: not a usable URL")
