"""HTTP helpers the outbound adapters share (the Bot Connector client and Microsoft Graph):
reading `Retry-After`, full-jitter backoff, a JSON body that may be empty or not JSON, and an
error code trimmed to an identifier so that free text from a server never reaches a log."""
from __future__ import annotations

import json
import random
import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110).

    Returns None when absent or unreadable (the caller then uses exponential backoff), and
    never a negative number (a date in the past means "now").
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN / inf
            return None
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT by definition
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def full_jitter(attempt: int, base_delay: float, max_delay: float, rng: random.Random | None = None) -> float:
    """Full-jitter wait after failed attempt number `attempt` (1-based): uniform in
    [0, min(max_delay, base_delay * 2^(attempt-1))]."""
    cap = min(max_delay, base_delay * (2 ** max(attempt - 1, 0)))
    return (rng or random).uniform(0.0, cap)


async def json_object(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    """The response's JSON object; {} when the body is empty, not JSON, or not an object."""
    text = await resp.text()
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


_CODE_OK = re.compile(r"[^A-Za-z0-9_.\-]")


def sanitise_code(value: Any, limit: int = 64) -> str | None:
    """Keep an error code only if it looks like an identifier; never pass free text on."""
    if not isinstance(value, str) or not value:
        return None
    return _CODE_OK.sub("", value)[:limit] or None
