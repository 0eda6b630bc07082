"""How times and roles read to people: shared by the cards and by the reminders' texts."""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from .vocabulary import ROLE_NAMES

UK = ZoneInfo("Europe/London")  # every area's time zone (shared/spec/plan.md, Time)


# Why an invitation has not reached someone in Teams (bot.adapters.connector's kinds), in words.
DELIVERY_PROBLEMS = {
    "blocked": "the bot is blocked or the app is not installed for them",
    "not_installed": "the app is not installed for them",
    "not_found": "no Teams account was found for them",
    "unauthorized": "the bot was not allowed to message them",
    "bad_request": "Teams refused the message",
    "server": "Teams answered with an error",
    "network": "Teams could not be reached",
    "throttled": "Teams asked the bot to slow down",
    "no_teams_app": "not in Teams: their organisation has not added the app (invite them by the calendar "
                    "invitation or an answer link)",
    "outside_teams": "not in Teams: invited by email address from outside your organisation (answer link)",
}


def delivery_problem(kind: str | None) -> str:
    return DELIVERY_PROBLEMS.get(kind or "", kind or "sending failed")


def role_name(role: str) -> str:
    # The fallback is made only for a role without a name (re-planning names a dozen roles a press).
    name = ROLE_NAMES.get(role)
    return name if name is not None else role.replace("_", " ").capitalize()


def as_uk(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        raise ValueError(f"{value!r}: a time shown to people must carry a UTC offset")
    return value.astimezone(UK)


# The same few instants (deadlines, meeting times, answers) are worded on every card and in
# every re-planning of reminders: remembered, as the wording depends on the instant alone.
@lru_cache(maxsize=4096)
def uk_time(value: datetime | str | None, *, missing: str = "") -> str:
    """'Wednesday 25 November 2026, 17:00 (UK time)'; 23:59:59 reads as the end of the day."""
    t = as_uk(value)
    if t is None:
        return missing
    day = f"{t:%A} {t.day} {t:%B %Y}"
    if (t.hour, t.minute, t.second) == (23, 59, 59):
        return f"the end of {day} (23:59 UK time)"
    return f"{day}, {t:%H:%M} (UK time)"
