"""Adaptive Cards for Teams: a tiny templating engine and the bot's card builders.

Cards are JSON templates under `cards/` (Adaptive Cards 1.5, what Teams renders). This module
implements the subset of Adaptive Cards Templating they use:

    "${path.to.value}"      a string that is exactly one expression becomes the raw value
                            (keeping its type); otherwise each expression is interpolated as
                            text. A missing value renders as "".
    "${!path}"              negation (true when the value is missing or falsy)
    "$data": "${list}"      on an object: repeat it once per item (spliced into the parent
                            array); on an object with a mapping: render it against that mapping
    "$when": "${path}"      drop the element when the value is falsy
    $root, $data, $index    the top data, the current item, the item's position

Inside a repetition a path resolves against the item first, then the enclosing items, then the
root. Anything else (functions, operators) is a template error, raised as CardTemplateError.

The builders take plain values (plan dicts or dataclasses, the view dataclasses below) and
return the card as a dict (the Teams adapter wraps it for a message). Cards carry the case
reference and children's ages, never a child's name.

Every submitting action is an `Action.Execute` (Teams universal actions) with an
`Action.Submit` fallback; both carry `data.verb` (and the Execute its own `verb`), so a handler
reads `data["verb"]` whichever way the answer arrives.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any

from .core import quoracy
from .core.privacy import meeting_code
from .core.timing import how_long, overdue_by
from .core.wording import UK, as_uk, delivery_problem, role_name, uk_time  # noqa: F401  (re-exported)
from .core.vocabulary import CONCERNS, FLAGS, ROLE_NAMES

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "cards"
MAX_CHILDREN = 4


class CardTemplateError(Exception):
    """A card template that cannot be loaded or rendered (names the template)."""


# --- templating -------------------------------------------------------------------------

_EXPR = re.compile(r"\$\{([^{}]*)\}")
_PATH = re.compile(r"^(!?)\s*(\$?[A-Za-z_][A-Za-z0-9_]*(?:\.(?:\$?[A-Za-z_][A-Za-z0-9_]*|\d+))*)\s*$")
_TEMPLATE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_MISSING = object()
_DROP = object()


class _Repeat(list):
    """The copies of an element repeated by `$data`, to be spliced into the enclosing array."""


class _Scope:
    """Where a path is looked up: the root, the enclosing items (innermost first), the index
    of the current one. One per repeated item: a plain class, cheaper to make than a frozen
    dataclass."""

    __slots__ = ("root", "chain", "index")

    def __init__(self, root: Any, chain: tuple[Any, ...], index: int | None = None):
        self.root, self.chain, self.index = root, chain, index

    def enter(self, item: Any, index: int | None = None) -> "_Scope":
        return _Scope(self.root, (item, *self.chain), index)


@lru_cache(maxsize=None)
def load_template(name: str, directory: Path | None = None) -> dict:
    """The parsed template `cards/<name>.json`, read once and cached (never mutated)."""
    directory = directory or TEMPLATE_DIR
    if not _TEMPLATE_NAME.match(name):
        raise CardTemplateError(f"card template name {name!r} is not valid (expected e.g. 'plan')")
    path = directory / f"{name}.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CardTemplateError(f"card template {name!r} not found: no file {path}") from None
    except OSError as e:
        raise CardTemplateError(f"card template {name!r} cannot be read from {path} ({e.strerror})") from None
    try:
        template = json.loads(text)
    except json.JSONDecodeError as e:
        raise CardTemplateError(f"card template {path}: not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    if not isinstance(template, dict):
        raise CardTemplateError(f"card template {path}: expected a JSON object at the top level")
    return template


def render(name: str, data: Mapping[str, Any], directory: Path | None = None) -> dict:
    """Render template `name` against `data` (plain dicts, lists and scalars). Citations come
    out readable: "003_2d544eb75ad81283.txt §3.2" is shown as "Bristol strategy meeting
    guidance §3.2" (the document's title in its area profile)."""
    load_template(name, directory)  # a missing or unreadable template says so in its own words
    if data.get("meeting_id") and "meeting_code" not in data:
        # Every card about a meeting carries its short code: what the calendar and other
        # organisations were given, and what `python -m bot export CODE` takes.
        data = {**data, "meeting_code": meeting_code(str(data["meeting_id"]))}
    try:
        card = _compiled(name, directory)(_Scope(data, (data,)))
    except CardTemplateError as e:
        raise CardTemplateError(f"card template {name!r}: {e}") from None
    if not isinstance(card, dict):
        raise CardTemplateError(f"card template {name!r}: the top-level card was dropped or repeated")
    return card


class _DocumentTitles:
    """The title of every document the area profiles cite, by its key (file name): given by
    the running service (`use_document_titles`), else read once from the configuration folder,
    as the templates are read from theirs."""

    def __init__(self) -> None:
        self._titles: dict[str, str] | None = None
        self._pattern: re.Pattern[str] | None = None

    def use(self, titles: Mapping[str, str]) -> None:
        self._titles = dict(titles)
        self._pattern = None

    def titles(self) -> tuple[dict[str, str], re.Pattern[str] | None]:
        if self._titles is None:
            from .config_loader import ConfigError, load_profiles

            try:
                self.use(document_titles_of(load_profiles().values()))
            except (ConfigError, OSError):
                self.use({})  # an invalid configuration shows the keys; check-config names the problem
        if self._pattern is None and self._titles:
            keys = sorted(self._titles, key=len, reverse=True)
            self._pattern = re.compile("(" + "|".join(map(re.escape, keys)) + r")(?= §)")
        return self._titles, self._pattern  # type: ignore[return-value]


_DOCUMENTS = _DocumentTitles()


def document_titles_of(profiles: Any) -> dict[str, str]:
    return {key: doc.title for p in profiles for key, doc in p.documents.items()}


def use_document_titles(titles: Mapping[str, str]) -> None:
    """The titles of the documents of the profiles the service runs with (bot.wiring)."""
    _DOCUMENTS.use(titles)


def readable(text: str) -> str:
    """A citation as people read it: the document's title, then its section."""
    titles, pattern = _DOCUMENTS.titles()
    return pattern.sub(lambda m: titles[m.group(1)], text) if pattern else text


# A template is compiled once into nested closures (`_compiled`): each expression parsed
# once, literal text and numbers kept as they are, so a render only looks values up and
# builds the card. The answered invitation card is drawn on every press; interpreting the
# template afresh (a regular expression per string, per render) cost as much as the press's
# database work. Every dict and list of the card is still built anew on each render: callers
# may change the card they get.
_Node = Callable[[_Scope], Any]


@lru_cache(maxsize=None)
def _compiled(name: str, directory: Path | None) -> _Node:
    return _compile(load_template(name, directory))


def _compile(node: Any) -> _Node:
    if isinstance(node, dict):
        return _compile_object(node)
    if isinstance(node, list):
        return _compile_list(node)
    if isinstance(node, str):
        return _compile_text(node)
    return lambda scope: node


def _children(nodes: list[tuple[Any, Any]]) -> list[tuple[Any, bool, Any]]:
    """(key, constant?, the value or its compiled node): literal text and scalars are used as
    they are, without a call."""
    out = []
    for key, node in nodes:
        if isinstance(node, (dict, list)) or (isinstance(node, str) and "${" in node):
            out.append((key, False, _compile(node)))
        else:
            out.append((key, True, node))
    return out


def _compile_list(node: list) -> _Node:
    children = _children(list(enumerate(node)))

    def render_list(scope: _Scope) -> list:
        out: list = []
        for _, constant, child in children:
            if constant:
                out.append(child)
                continue
            rendered = child(scope)
            if rendered is _DROP:
                continue
            if isinstance(rendered, _Repeat):
                out.extend(rendered)
            else:
                out.append(rendered)
        return out

    return render_list


def _compile_object(node: dict) -> _Node:
    if "$data" in node:
        source = node["$data"]
        items_of = _compile_whole(source) if isinstance(source, str) else (lambda scope: source)
        body = _compile_object({k: v for k, v in node.items() if k != "$data"})

        def repeat(scope: _Scope) -> Any:
            items = items_of(scope)
            if isinstance(items, list):
                copies = (body(scope.enter(item, i)) for i, item in enumerate(items))
                return _Repeat(c for c in copies if c is not _DROP)
            if items is _MISSING or items is None:
                return _DROP
            return body(scope.enter(items))

        return repeat
    when = _compile_whole(node["$when"]) if "$when" in node else None
    children = _children([(k, v) for k, v in node.items() if k != "$when"])

    def render_object(scope: _Scope) -> Any:
        if when is not None and not _truthy(when(scope)):
            return _DROP
        out = {}
        for key, constant, child in children:
            if constant:
                out[key] = child
                continue
            rendered = child(scope)
            if rendered is _DROP:
                continue
            out[key] = list(rendered) if isinstance(rendered, _Repeat) else rendered
        return out

    return render_object


def _compile_whole(expr: Any) -> _Node:
    """`${path}` as its raw value (for `$data` and `$when`)."""
    if not isinstance(expr, str):
        raise CardTemplateError(f"expected an expression such as '${{path}}', found {expr!r}")
    match = _EXPR.fullmatch(expr.strip())
    if not match:
        raise CardTemplateError(f"expected exactly one '${{...}}' expression, found {expr!r}")
    return _compile_path(match.group(1))


def _compile_text(text: str) -> _Node:
    match = _EXPR.fullmatch(text)
    if match:  # exactly one expression: its value, keeping its type
        value_of = _compile_path(match.group(1))

        def whole(scope: _Scope) -> Any:
            value = value_of(scope)
            if isinstance(value, str):
                return readable(value) if " §" in value else value
            return "" if value is _MISSING or value is None else value

        return whole
    if "${" not in text:
        return lambda scope: text
    # literal, expression, literal, ...: each expression interpolated as text
    parts = [piece if i % 2 == 0 else _compile_path(piece) for i, piece in enumerate(_EXPR.split(text))]

    def interpolate(scope: _Scope) -> str:
        out = "".join([p if isinstance(p, str) else _as_text(p(scope)) for p in parts])
        return readable(out) if " §" in out else out  # citations by their document's title

    return interpolate


def _as_text(value: Any) -> str:
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _compile_path(expr: str) -> _Node:
    match = _PATH.match(expr)
    if not match:
        raise CardTemplateError(
            f"unsupported expression '${{{expr}}}': only paths (a.b.c, $root.x, $data, $index) and '!path' are supported"
        )
    negate, path = match.group(1) == "!", match.group(2).split(".")
    head, rest = path[0], tuple(path[1:])
    if head.startswith("$") and head not in ("$root", "$data", "$index"):
        raise CardTemplateError(f"unknown name '{head}' (expected $root, $data or $index)")

    def lookup(scope: _Scope) -> Any:
        if head == "$root":
            value = scope.root
        elif head == "$data":
            value = scope.chain[0]
        elif head == "$index":
            value = _MISSING if scope.index is None else scope.index
        else:  # the innermost item that has the name, up to the root
            value = _MISSING
            for item in scope.chain:
                if isinstance(item, Mapping) and head in item:
                    value = item[head]
                    break
        for part in rest:
            value = _step(value, part)
        return not _truthy(value) if negate else value

    return lookup


def _step(value: Any, part: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(part, _MISSING)
    if isinstance(value, list) and part.isdigit():
        i = int(part)
        return value[i] if i < len(value) else _MISSING
    return _MISSING


def _truthy(value: Any) -> bool:
    return value is not _MISSING and bool(value)


# --- helpers shared by the builders -------------------------------------------------------

def card_json(card: Mapping[str, Any]) -> str:
    """The card as compact JSON: what is sent, and what the size limit counts."""
    return json.dumps(card, ensure_ascii=False, separators=(",", ":"))


def card_size(card: Mapping[str, Any]) -> int:
    return len(card_json(card).encode("utf-8"))


def _cited(rule: Any) -> dict[str, str]:
    """{summary, source} from a citation dict, a Reason or a Cited rule."""
    if isinstance(rule, Mapping):
        return {"summary": str(rule.get("summary", "")), "source": str(rule.get("source", ""))}
    return {"summary": rule.summary, "source": rule.source}


def _plan_dict(plan: Any) -> dict:
    return plan.to_dict() if hasattr(plan, "to_dict") else dict(plan)


def _area_name(area_id: str) -> str:
    return area_id.replace("-", " ").title()


def _tidy_inputs(node: Any) -> Any:
    """Drop empty `value`s from inputs: an input without a value is simply not prefilled."""
    if isinstance(node, dict):
        if str(node.get("type", "")).startswith("Input.") and node.get("value") in ("", None):
            node.pop("value", None)
        for v in node.values():
            _tidy_inputs(v)
    elif isinstance(node, list):
        for v in node:
            _tidy_inputs(v)
    return node


# --- plain-English vocabularies for the form -----------------------------------------------

CONCERN_NAMES = {
    "physical_abuse": "Physical abuse",
    "sexual_abuse": "Sexual abuse",
    "emotional_abuse": "Emotional abuse",
    "neglect": "Neglect",
    "extra_familial_harm": "Extra-familial harm (exploitation, harm outside the home)",
    "domestic_abuse": "Domestic abuse",
    "fabricated_induced_illness": "Fabricated or induced illness",
}
FLAG_MEANINGS = {  # shared/spec/plan.md, Request: flags
    "emergency_protection": "Critical incident: emergency protection needed",
    "immediate_action": "Immediate action required or taken by police or social care (police protection powers included)",
    "serious_harm": "Serious physical injury or serious neglect; serious risk of harm",
    "recent_incident": "A recent incident of alleged abuse",
    "chronic_neglect": "Chronic neglect",
    "historical_abuse": "Historical abuse",
    "penetrative_sexual_abuse": "Penetrative sexual abuse",
    "forensic_window": "Forensic evidence may be lost",
    "unexplained_injury": "Unexplained injury: medical assessment may be needed",
    "allegation_against_professional": "Allegation against a person in a position of trust (staff or volunteer)",
    "organised_abuse": "Organised or complex abuse",
    "new_referral": "A new contact or referral, not an allocated case",
    "child_on_child_abuse": "An allegation that a child has abused another child",
}
EDUCATION_NAMES = {
    "none": "None / not applicable",
    "nursery": "Nursery",
    "school": "School",
    "college": "College",
    "home_educated": "Home educated",
    "missing": "Missing education",
}
INPATIENT_NAMES = {
    "none": "Not in hospital",
    "paediatric": "Paediatric ward",
    "mental_health_tier4": "Tier 4 mental health unit",
}
assert set(CONCERN_NAMES) == set(CONCERNS) and set(FLAG_MEANINGS) == set(FLAGS)

FOLLOW_UP_NAMES = {
    "minutes_due": "Minutes shared with participants",
    "icpc_due": "Initial child protection conference",
    "ooh_record_due": "Out-of-hours record sent to the day team",
    "dissent_window_end": "Last moment to challenge the decision",
    "investigation_review_due": "Mid-point review of the investigation",
    "review_strategy_meeting": "Review strategy meeting",
}


def follow_up_name(kind: str) -> str:
    """A follow-up as the chair reads it: its name above, else its kind in words
    ('child_seen_due' -> 'Child seen'); never the kind's abbreviation ('Ooh record')."""
    return FOLLOW_UP_NAMES.get(kind) or kind.replace("_", " ").removesuffix(" due").capitalize()


LEVEL_BADGES = {  # level -> (badge text, container style)
    "quorum": ("Quorum", "attention"),
    "must": ("Must", "warning"),
    "should": ("Should", "accent"),
}
LEVEL_EXPLAINED = {
    "quorum": "The meeting is not quorate without your agency.",
    "must": "The protocol says your agency must be invited.",
    "should": "The protocol says your agency should be invited.",
}


def _choices(names: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"title": title, "value": value} for value, title in names.items()]


# --- welcome and message ---------------------------------------------------------------------

def welcome_card() -> dict:
    return render("welcome", {})


def message_card(title: str, text: str) -> dict:
    return render("message", {"title": title, "text": text})


# --- request form ------------------------------------------------------------------------------

FORM_FIELDS = (
    "area", "case_ref", "children", "concerns", "flags", "referrer", "involved_services",
    "decided_at", "meeting_at", "delay_reason",
)
MAX_AGE = 17  # a child: under 18
CHILD_FIELDS = ("included", "age", "education", "inpatient", "hospital_services", "unborn")
FORM_DEFAULT_MESSAGES = {
    "area": "Choose the area.",
    "case_ref": "Enter the case reference (never a child's name).",
    "decided_date": "Enter the date the decision was made.",
    "decided_time": "Enter the time the decision was made (UK time).",
    "meeting_date": "Enter a valid date.",
    "meeting_time": "Enter a valid time (UK time).",
    "age": "Enter an age from 0 to 17 (a child is under 18), or leave it blank.",
}


def child_field(n: int, name: str) -> str:
    """The form input id of a child's field; n counts from 1 ('child1_age')."""
    return f"child{n}_{name}"


def request_form_card(
    areas: Sequence[tuple[str, str]],
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    replaces: Mapping[str, str] | None = None,
) -> dict:
    """The strategy-meeting request form, prefilled with `values` (form input ids) and showing
    `errors` (form field -> message; keys that are not fields show at the top). `replaces`
    ({meeting_id, plan_message}): the form edits that request, and its plan card's message.
    Children 2 to 4 stay hidden until the user adds them (or they hold values)."""
    values, errors = dict(values or {}), dict(errors or {})
    replaces = dict(replaces or {"meeting_id": str(values.get("replaces") or ""),
                                 "plan_message": str(values.get("plan_message") or "")})
    known = set(FORM_FIELDS) | {
        child_field(n, f) for n in range(1, MAX_CHILDREN + 1) for f in CHILD_FIELDS
    } | {"decided_date", "decided_time", "meeting_date", "meeting_time", "delay_reason"}
    general = [msg for key, msg in errors.items() if key not in known]

    def value(key: str) -> str:
        v = values.get(key)
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return ",".join(str(x) for x in v)
        return str(v)

    def message(key: str, default_key: str | None = None) -> str:
        return errors.get(key) or FORM_DEFAULT_MESSAGES.get(default_key or key, "Check this field.")

    children = []
    for n in range(1, MAX_CHILDREN + 1):
        row = {f: value(child_field(n, f)) for f in CHILD_FIELDS}
        row.update(
            n=n,
            age=int(row["age"]) if row["age"].isdigit() else "",  # Input.Number takes a number
            heading=f"Child {n}",
            optional=n > 1,
            shown=n == 1 or row["included"] == "true" or bool(row["age"]) or row["unborn"] == "true"
            or any(errors.get(child_field(n, f)) for f in CHILD_FIELDS),
            next_child=n + 1 if n < MAX_CHILDREN else 0,
            education=row["education"] or "none",
            inpatient=row["inpatient"] or "none",
            hospital_services=row["hospital_services"] or "false",
            unborn=row["unborn"] or "false",
            included=row["included"] or "false",
            age_message=message(child_field(n, "age"), "age"),
            errors={f: errors.get(child_field(n, f), "") for f in CHILD_FIELDS},
        )
        children.append(row)

    data = {
        "areas": [{"id": a, "name": name} for a, name in areas],
        "values": {k: value(k) for k in (
            "area", "case_ref", "concerns", "flags", "referrer", "involved_services",
            "decided_date", "decided_time", "meeting_date", "meeting_time", "delay_reason",
        )},
        "title": "Edit the request" if replaces.get("meeting_id") else "Request a strategy meeting",
        "replaces": replaces,
        "errors": {**{k: errors.get(k, "") for k in known}, "general": " ".join(general)},
        "messages": {k: message(k) for k in ("area", "case_ref", "decided_date", "decided_time", "meeting_date", "meeting_time")},
        "children": children,
        "concern_choices": _choices(CONCERN_NAMES),
        "flag_choices": _choices(FLAG_MEANINGS),
        "role_choices": _choices(ROLE_NAMES),
        "education_choices": _choices(EDUCATION_NAMES),
        "inpatient_choices": _choices(INPATIENT_NAMES),
    }
    data["errors"]["decided_at"] = " ".join(filter(None, (errors.get("decided_at"), errors.get("decided_date"), errors.get("decided_time"))))
    data["errors"]["meeting_at"] = " ".join(filter(None, (errors.get("meeting_at"), errors.get("meeting_date"), errors.get("meeting_time"))))
    return _tidy_inputs(render("request_form", data))


_TYPED_TIME = re.compile(r"^(\d{1,2})(?:[:.h]?(\d{2}))?\s*(am|pm)?$", re.IGNORECASE)


def typed_time(clock: str) -> time | None:
    """A time as typed: '14:35', '14.35', '1435', '2:35pm', '2pm' (None: not a time). The
    time picker offers steps; any minute can be typed."""
    text = clock.strip()
    m = _TYPED_TIME.match(text)
    if not m:  # e.g. '14:35:00' as a time picker may send it
        try:
            return time.fromisoformat(text)
        except ValueError:
            return None
    hour, minute, half = int(m[1]), int(m[2] or 0), (m[3] or "").lower()
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def uk_instant(day: str, clock: str) -> str | None:
    """UK local date and time inputs -> ISO 8601 with the offset in force then (None: not a
    date YYYY-MM-DD and a time such as HH:MM)."""
    try:
        d = date.fromisoformat(day.strip())
    except ValueError:
        return None
    c = typed_time(clock)
    if c is None:
        return None
    return datetime.combine(d, c, tzinfo=UK).isoformat(timespec="seconds")


def request_form_values(request: Mapping[str, Any]) -> dict[str, Any]:
    """A stored request (shared/spec/plan.md, Request) as the form's input values, to edit it."""
    values: dict[str, Any] = {k: request.get(k) for k in ("area", "case_ref", "referrer") if request.get(k)}
    for key in ("concerns", "flags", "involved_services"):
        values[key] = ",".join(request.get(key) or ())
    for key, prefix in (("decided_at", "decided"), ("meeting_at", "meeting")):
        day, clock = _local_parts(request.get(key))
        if day:
            values[f"{prefix}_date"], values[f"{prefix}_time"] = day, clock
    for n, child in enumerate(request.get("children") or (), start=1):
        if n > MAX_CHILDREN:
            break
        values[child_field(n, "included")] = "true"
        if child.get("age") is not None:
            values[child_field(n, "age")] = str(child["age"])
        for key in ("education", "inpatient"):
            values[child_field(n, key)] = child.get(key) or "none"
        for key in ("unborn", "hospital_services"):
            values[child_field(n, key)] = "true" if child.get(key) else "false"
    return values


def _uk_instant(day: str, clock: str, label: str, problems: dict[str, str]) -> str | None:
    when = uk_instant(day, clock)
    if when is None:
        problems[label] = "Enter a date (YYYY-MM-DD) and a time (HH:MM), UK time."
    return when


def read_request_form(form: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The submitted form (input id -> string) as a plan request (shared/spec/plan.md) plus
    the problems the form itself can see (form field -> message). Validate the request with
    bot.core.request.parse_request and map its problems with `form_errors`."""
    problems: dict[str, str] = {}

    def text(key: str) -> str:
        v = form.get(key)
        return "" if v is None else str(v).strip()

    def many(key: str) -> list[str]:
        v = form.get(key)
        items = v if isinstance(v, (list, tuple)) else text(key).split(",")
        return [str(x).strip() for x in items if str(x).strip()]

    def flag(key: str) -> bool:
        return text(key).lower() in ("true", "on", "1", "yes")

    children = []
    for n in range(1, MAX_CHILDREN + 1):
        age_text = text(child_field(n, "age"))
        if n > 1 and not flag(child_field(n, "included")):
            continue  # a child the user did not add (or took out again)
        age: int | None = None
        if age_text:
            try:
                age = int(float(age_text))
            except (ValueError, OverflowError):  # "abc", "nan"; "1e309" is infinity
                problems[child_field(n, "age")] = "Enter the age as a number of years, or leave it blank."
            else:
                if not 0 <= age <= MAX_AGE:
                    problems[child_field(n, "age")] = FORM_DEFAULT_MESSAGES["age"]
                    age = None
        children.append({
            "ref": f"child{n}",  # a position, never a name
            "age": age,
            "unborn": flag(child_field(n, "unborn")),
            "education": text(child_field(n, "education")) or "none",
            "inpatient": text(child_field(n, "inpatient")) or "none",
            "hospital_services": flag(child_field(n, "hospital_services")),
        })
    request: dict[str, Any] = {
        "area": text("area"),
        "case_ref": text("case_ref") or None,
        "children": children,
        "concerns": many("concerns"),
        "flags": many("flags"),
        "referrer": text("referrer") or None,
        "involved_services": many("involved_services"),
    }
    if not request["area"]:
        problems["area"] = FORM_DEFAULT_MESSAGES["area"]
    if not request["case_ref"]:
        problems["case_ref"] = FORM_DEFAULT_MESSAGES["case_ref"]
    if text("decided_date") and text("decided_time"):
        request["decided_at"] = _uk_instant(text("decided_date"), text("decided_time"), "decided_at", problems)
    else:
        problems["decided_at"] = "Enter the date and time the decision was made (UK time)."
    if text("meeting_date") or text("meeting_time"):
        if text("meeting_date") and text("meeting_time"):
            request["meeting_at"] = _uk_instant(text("meeting_date"), text("meeting_time"), "meeting_at", problems)
        else:
            problems["meeting_at"] = "Give both a date and a time for the proposed meeting, or neither."
    return {k: v for k, v in request.items() if v is not None}, problems


_PROBLEM = re.compile(r"^(?P<field>[A-Za-z_]+)(?:\[(?P<index>\d+)\])?(?:\.(?P<sub>[A-Za-z_]+))?: (?P<message>.*)$")


def form_errors(problems: Sequence[str]) -> dict[str, str]:
    """Map request problems ('children[0].age: ...', RequestInvalid.problems) to form fields;
    a problem naming no form field goes under '_form' (shown at the top of the form)."""
    out: dict[str, str] = {}
    for line in problems:
        m = _PROBLEM.match(line)
        key, message = "_form", line
        if m:
            name, index, sub, message = m["field"], m["index"], m["sub"], m["message"]
            if name == "children" and index is not None and sub in CHILD_FIELDS and int(index) < MAX_CHILDREN:
                key = child_field(int(index) + 1, sub)
            elif name in FORM_FIELDS:
                key = name
            else:
                message = line
        out[key] = f"{out[key]} {message}" if key in out else message
    return out


# --- plan card ------------------------------------------------------------------------------------

def _local_parts(value: datetime | str | None) -> tuple[str, str]:
    t = as_uk(value)
    return ("", "") if t is None else (t.date().isoformat(), f"{t:%H:%M}")


def _follow_up_row(f: Mapping[str, Any]) -> dict[str, str]:
    applies = f.get("applies_if")
    condition = ""
    if applies:
        condition = "if a section 47 enquiry goes ahead" if applies == "s47_enquiry" else f"if {applies.replace('_', ' ')}"
    return {
        "name": follow_up_name(f["kind"]),
        "due": uk_time(f.get("due")) or str(f.get("timescale") or "as soon as practicable"),
        "condition": condition,
        **_cited(f["rule"]),
    }


def plan_card(plan: Any, case_ref: str, meeting_id: str, *, area_name: str | None = None, note: str = "",
              join_url: str | None = None, proposals: Sequence[Any] = (), proposals_note: str = "",
              now: datetime | None = None, reach: Mapping[str, str] | None = None) -> dict:
    """The plan for the requester to check: deadline (plainly passed, and by how long, when
    `now` is after it), quorum, invitees (with how each will be reached, `reach` by role),
    follow-ups; actions `plan_confirm_time`
    (meeting_date, meeting_time, delay_reason inputs), `request_edit`, `request_withdraw`
    and `plan_send`."""
    p = _plan_dict(plan)
    meeting_date, meeting_time = _local_parts(p.get("meeting_at"))
    warnings = [note] if note else []
    deadline = as_uk(p.get("meeting_deadline"))
    late = overdue_by(deadline, now)
    if late is not None:
        warnings.insert(0, f"The deadline passed {how_long(late)} ago. Hold the meeting as soon as you can and "
                           "record the reason for the delay: the protocols ask for it in the case record.")
    proposed = as_uk(p.get("meeting_at"))
    if deadline is not None and proposed is not None and proposed > deadline:
        warnings.append(f"The proposed meeting is {how_long(proposed - deadline)} after the deadline.")
    routing = p.get("routing") or {}
    if routing.get("out_of_hours"):
        warnings.append(f"{routing.get('why') or 'Out of hours.'} Invitations go to the on-call contacts"
                        f" and the {role_name(routing.get('chair_role') or 'edt')} chairs.")
    elif p.get("out_of_hours"):
        warnings.append("The decision was made out of hours: this is the Emergency Duty Team's time.")
    if p.get("deadline_out_of_hours") and not routing.get("out_of_hours"):
        warnings.append("The deadline falls out of office hours: unless the meeting can be held in office "
                        "hours before then, it takes place out of hours, with the Emergency Duty Team.")
    winner = p["deadline_rule"]
    others = [
        {"summary": m["summary"], "source": m["source"],
         "deadline": f"By {uk_time(m['deadline'])}." if m.get("deadline") else "No fixed deadline."}
        for m in p.get("matched_rules", []) if m.get("id") != winner.get("id")
    ]
    invitees = []
    for inv in p["invitees"]:
        badge, style = LEVEL_BADGES.get(inv["level"], (inv["level"].capitalize(), "default"))
        invitees.append({
            "name": role_name(inv["role"]), "badge": badge, "style": style,
            "reach": (reach or {}).get(inv["role"], ""),
            "reasons": [_cited(r) for r in inv.get("reasons", [])],
        })
    data = {
        "case_ref": case_ref,
        "meeting_id": meeting_id,
        "area_name": area_name or _area_name(p["area"]),
        "decided": uk_time(p.get("decided_at")),
        "deadline": (deadline_text(deadline, now) if deadline is not None
                     else "Meet as soon as practicable (the protocol sets no fixed deadline)"),
        "deadline_style": "attention" if late is not None else "emphasis",
        "deadline_rule": _cited(winner),
        "other_rules": others,
        "warnings": warnings,
        "chair": _cited(p["chair"]) if p.get("chair") else None,
        "quorum": ", ".join(role_name(r) for r in p.get("quorum", [])),
        "invitees": invitees,
        "follow_ups": [_follow_up_row(f) for f in p.get("follow_ups") or []],
        "separate_meetings": [_cited(r) for r in p.get("separate_meetings") or []],
        "meeting": uk_time(p.get("meeting_at"), missing="not set yet"),
        "meeting_date": meeting_date,
        "meeting_time": meeting_time,
        "join_url": join_url or "",
        "proposals": [{"label": f"{as_uk(s.start):%a %d %b %H:%M}", "date": as_uk(s.start).date().isoformat(),
                       "time": f"{as_uk(s.start):%H:%M}"} for s in proposals],
        "proposals_note": proposals_note,
    }
    return _tidy_inputs(render("plan", data))


# --- invitations -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PreparationView:
    items: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class InvitationView:
    """One agency's invitation. `reasons` are citations ({summary, source} or Reason)."""

    invitation_id: str
    case_ref: str
    area_name: str
    role: str
    level: str
    chair_name: str
    reasons: Sequence[Any] = ()
    preparation: Sequence[PreparationView] = ()
    meeting_at: datetime | str | None = None
    meeting_deadline: datetime | str | None = None
    join_url: str | None = None
    nominated_by: str | None = None  # the colleague who sent this person in their place
    meeting_id: str = ""             # shown as the meeting's short code

    @classmethod
    def for_role(
        cls, invitation_id: str, plan: Any, profile: Any, role: str, *, case_ref: str, chair_name: str,
        meeting_at: datetime | str | None = None, join_url: str | None = None, nominated_by: str | None = None,
        level: str | None = None, meeting_id: str = "",
    ) -> "InvitationView":
        """The invitation for `role` in `plan`, with what `profile` says that agency must bring.
        A role the plan does not list is one the chair added: `level` is the invitation's."""
        p = _plan_dict(plan)
        invitee = next((i for i in p["invitees"] if i["role"] == role), None)
        if invitee is None and level is None:
            raise ValueError(f"the plan does not invite {role!r}")
        if invitee is None:
            invitee = {"level": level, "reasons": [{"summary": f"{chair_name} (the chair) invited you to this meeting.",
                                                   "source": "added by the chair"}]}
        return cls(
            invitation_id=invitation_id, case_ref=case_ref, area_name=profile.name, role=role,
            level=invitee["level"], chair_name=chair_name,
            reasons=tuple(_cited(r) for r in invitee["reasons"]),
            preparation=tuple(PreparationView(tuple(g.items), g.source) for g in profile.preparation_for(role)),
            meeting_at=meeting_at or p.get("meeting_at"), meeting_deadline=p.get("meeting_deadline"),
            join_url=join_url, nominated_by=nominated_by, meeting_id=meeting_id,
        )


def _invitation_data(view: InvitationView) -> dict[str, Any]:
    return {
        "invitation_id": view.invitation_id,
        "meeting_code": meeting_code(view.meeting_id) if view.meeting_id else "",
        "case_ref": view.case_ref,
        "area_name": view.area_name,
        "role_name": role_name(view.role),
        "level_text": LEVEL_EXPLAINED.get(view.level, ""),
        "meeting": uk_time(view.meeting_at, missing="Time to be confirmed"),
        "deadline": "" if view.meeting_at else uk_time(view.meeting_deadline),
        "join_url": view.join_url or "",
        "chair_name": view.chair_name,
        "nominated_by": f"{view.nominated_by} nominated you to attend in their place." if view.nominated_by else "",
        "reasons": [_cited(r) for r in view.reasons],
        "preparation": [{"items": list(g.items), "source": g.source} for g in view.preparation],
    }


def invitation_fields(view: InvitationView) -> dict[str, Any]:
    """What the invitation card shows, as text (the answer page shows the same, less the case reference)."""
    return _invitation_data(view)


def invitation_card(meeting: InvitationView) -> dict:
    """Actions (data carries invitation_id): invite_accept; invite_decline (decline_reason);
    invite_nominate (nominee_name, nominee_email); invite_written (written_information)."""
    return render("invitation", _invitation_data(meeting))


RESPONSES = {  # response -> (heading, colour)
    "accepted": ("You accepted: you will attend.", "good"),
    "declined": ("You declined.", "attention"),
    "nominated": ("You nominated a colleague to attend.", "accent"),
    "written": ("You will not attend and are sending information in writing.", "warning"),
}
_VERB_RESPONSES = {"invite_accept": "accepted", "invite_decline": "declined", "invite_nominate": "nominated", "invite_written": "written"}


def invitation_answered_card(
    view: InvitationView, response: str, detail: Mapping[str, Any] | str | None = None,
    *, answered_at: datetime | str | None = None,
) -> dict:
    """The invitation after its answer: what was answered and when, and `invite_reopen`.

    `response` is accepted / declined / nominated / written (or the verb that gave it);
    `detail` the decline reason, {nominee_name, nominee_email}, or the written information
    (which is never echoed back: it may name children)."""
    response = _VERB_RESPONSES.get(response, response)
    if response not in RESPONSES:
        raise ValueError(f"unknown response {response!r}; expected one of {', '.join(RESPONSES)}")
    heading, colour = RESPONSES[response]
    info = dict(detail) if isinstance(detail, Mapping) else {}
    text = detail if isinstance(detail, str) else ""
    lines = []
    if response == "declined":
        reason = info.get("decline_reason") or text
        if reason:
            lines.append(f"Reason given: {clip(str(reason))}")
    elif response == "nominated":
        name, email = info.get("nominee_name", ""), info.get("nominee_email", "")
        who = " ".join(filter(None, (name, f"({email})" if email else "")))
        if who and info.get("invited", True):
            lines.append(f"Invited in your place: {who}. They have been sent this invitation.")
        elif who:  # not in the directory: say so here, once
            lines.append(f"{who} is not in the bot's directory, so they could not be invited in Teams. The chair "
                         "has been told; please forward the meeting details to them yourself.")
    elif response == "written":
        lines.append("Your information was passed to the chair, who will share it at the meeting.")
    data = _invitation_data(view)
    data["answer"] = {
        "heading": heading,
        "colour": colour,
        "lines": lines,
        "when": f"Answered {uk_time(answered_at)}" if answered_at else "",
        "join": response == "accepted" and bool(view.join_url),
    }
    return render("invitation_answered", data)


def clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- chair's status card ------------------------------------------------------------------------

WAITING, ACCEPTED, DECLINED, NOMINATED, WRITTEN = ANSWER_STATES = ("waiting", "accepted", "declined", "nominated", "written")
DELIVERY_FAILURES = {
    "blocked": "the bot is blocked",
    "not_installed": "the app is not installed",
    "not_found": "no Teams account was found",
    "no_teams_app": "their organisation has not added the app in Teams (invited by calendar or answer link)",
    "outside_teams": "outside your organisation's Teams (invited by answer link)",
}


@dataclass(frozen=True)
class Answer:
    """One invitee and where their invitation stands."""

    role: str
    level: str
    state: str = WAITING  # waiting / accepted / declined / nominated / written
    name: str | None = None  # who accepted, or the contact invited
    detail: str | None = None  # decline reason, nominee's name
    delivery_failure: str | None = None  # blocked / not_installed / not_found / free text
    email: str | None = None
    phone: str | None = None
    handed_over: bool = False  # a nomination whose nominee has their own invitation: theirs decides
    delivery_retrying: str | None = None  # not delivered yet, still trying: the last failure's kind

    def __post_init__(self) -> None:
        if self.state not in ANSWER_STATES:
            raise ValueError(f"unknown answer state {self.state!r}; expected one of {', '.join(ANSWER_STATES)}")


@dataclass(frozen=True)
class StatusView:
    meeting_id: str
    case_ref: str
    area_name: str
    quorum: Sequence[str]
    answers: Sequence[Answer]
    escalation: Any  # {summary, source} or the profile's Cited rule
    filled_by: Mapping[str, Sequence[str]] = field(default_factory=dict)  # quorum role -> roles that fill it
    meeting_at: datetime | str | None = None
    fallback: Any = None  # the protocol's out-of-hours fallback ({summary, source}) when it is on offer
    state: str = "sent"                  # the meeting's lifecycle state (bot.core.meeting)
    state_note: str = ""                 # "Cancelled on Tue 1 Dec at 10:58 by Sam Chairperson."
    deadline: datetime | None = None
    now: datetime | None = None          # to say whether the deadline has passed
    join_url: str | None = None
    next_follow_up: tuple[str, datetime] | None = None  # (what, when due)
    can: frozenset[str] = frozenset({"set_time", "cancel", "record_outcome"})  # commands the state allows
    chair_user_id: str | None = None     # the chair's Teams id: Teams refreshes the card for them
    # Quorum role -> the next directory contact who could fill it (a decline is then not yet
    # a reason to escalate: the chair can invite them).
    next_contacts: Mapping[str, str] = field(default_factory=dict)
    delay_reason: str = ""               # the chair's reason for the delay, once recorded

    @staticmethod
    def filled_by_of(profile: Any) -> dict[str, tuple[str, ...]]:
        return {q.role: tuple(q.filled_by) for q in profile.quorum.roles}


@dataclass(frozen=True)
class QuorumSlot:
    role: str
    state: str  # accepted / waiting / declined / unreachable / not_invited
    by: Answer | None


def quorum_slots(view: StatusView) -> list[QuorumSlot]:
    """Each quorum role and where it stands (bot.core.quoracy decides), with the answer
    that decides it: who accepted, who is awaited, who declined."""
    answered = [quoracy.Answered(
        role=a.role, name=a.name or "", answer="none" if a.state == WAITING else a.state,  # type: ignore[arg-type]
        delivery_failed=bool(a.delivery_failure), handed_over=a.handed_over, key=n,
    ) for n, a in enumerate(view.answers)]
    needed = {role: view.filled_by.get(role, ()) for role in view.quorum}
    return [QuorumSlot(r.role, r.state, None if r.by is None else view.answers[r.by.key])
            for r in quoracy.quorum_status(needed, answered).roles]


def _answer_text(a: Answer) -> tuple[str, str]:
    if a.state == ACCEPTED:
        return f"Accepted by {a.name or 'their representative'}", "Good"
    if a.state == DECLINED:
        return "Declined" + (f": {clip(a.detail, 200)}" if a.detail else ""), "Attention"
    if a.state == NOMINATED:
        if a.handed_over:
            return f"Nominated {a.detail or 'a colleague'}, who has been invited", "Default"
        return f"Nominated {a.detail or 'a colleague'}: waiting for their answer", "Warning"
    if a.state == WRITTEN:
        return "Not attending: sending information in writing", "Warning"
    if a.delivery_failure:
        return f"Not delivered: {delivery_problem(a.delivery_failure)}", "Attention"
    if a.delivery_retrying:
        return f"Not delivered yet ({delivery_problem(a.delivery_retrying)}): still trying", "Warning"
    return "Waiting", "Default"


# A status is shown in default-coloured text on a tinted container (Teams' good / warning /
# attention styles), never as light green or yellow text on white: the container styles keep
# WCAG AA contrast in Teams' light, dark and high-contrast themes, coloured text does not.
_STYLE_OF = {"Good": "good", "Warning": "warning", "Attention": "attention", "Default": "default"}


def chair_status_card(view: StatusView) -> dict:
    """Live quoracy for the chair; action `status_refresh` (meeting_id)."""
    escalation = _cited(view.escalation)
    slots = quorum_slots(view)
    rows = []
    for slot in slots:
        if slot.state == "accepted":
            text, colour = f"Accepted by {slot.by.name or 'their representative'}", "Good"
            if slot.by.role != slot.role:
                text += f" ({role_name(slot.by.role)})"
        elif slot.state == "waiting":
            text, colour = _answer_text(slot.by)
            if slot.by.state == WAITING and not slot.by.delivery_retrying:
                text = "Waiting" + (f" for {slot.by.name}" if slot.by.name else "")
                if view.state not in ("draft", "sending", "sent", "not_held"):
                    text = "No answer" + (f" from {slot.by.name}" if slot.by.name else "")  # nobody waits now
            elif slot.by.state == WAITING:
                text = f"{slot.by.name or 'Invitation'}: {text[0].lower()}{text[1:]}"
        elif slot.state == "unreachable":
            # Reach them another way first (their email and phone are below); not yet a dispute.
            text, colour = (f"Not delivered to {slot.by.name or 'the contact'}: "
                            f"{delivery_problem(slot.by.delivery_failure)} — phone or email them"), "Attention"
        elif slot.state == "declined":
            text = _answer_text(slot.by)[0] if slot.by.state != DECLINED else (f"Declined by {slot.by.name}" if slot.by.name else "Declined")
            nxt = view.next_contacts.get(slot.role)
            text, colour = text + (f" — invite {nxt} instead" if nxt else " — escalate"), "Attention"
        else:
            text, colour = "Nobody invited — escalate", "Attention"
        rows.append({
            "name": role_name(slot.role), "status": text, "colour": colour, "style": _STYLE_OF[colour],
            "escalate": slot.state == "not_invited" or (slot.state == "declined" and slot.role not in view.next_contacts),
            "reason": slot.by.detail if slot.by and slot.by.state == DECLINED and slot.by.detail else "",
        })
    quorum_answers = {id(s.by) for s in slots if s.by is not None}
    others = []
    for a in view.answers:
        if a.role in view.quorum or id(a) in quorum_answers:
            continue
        text, colour = _answer_text(a)
        if a.state == WAITING and view.state not in ("draft", "sending", "sent", "not_held"):
            text = "No answer"
        badge, _ = LEVEL_BADGES.get(a.level, (a.level.capitalize(), "default"))
        others.append({"name": role_name(a.role), "badge": badge, "status": text, "colour": colour,
                       "style": _STYLE_OF[colour]})
    failures = [
        {
            "name": role_name(a.role),
            "text": (f"{a.name + ' ' if a.name else ''}could not be reached in Teams: "
                     f"{DELIVERY_FAILURES.get(a.delivery_failure, a.delivery_failure)} — "
                     f"email {a.email or 'unknown'}, phone {a.phone or 'unknown'}"),
        }
        for a in view.answers if a.delivery_failure
    ]
    filled = sum(s.state == "accepted" for s in slots)
    quorate = filled == len(slots)
    live = view.state in ("sending", "sent")
    header, header_style = ("Quorate", "good") if quorate else ("Not yet quorate", "attention")
    if not live:
        header, header_style = STATE_HEADERS.get(view.state, (view.state, "default"))
    data = {
        "meeting_id": view.meeting_id,
        "case_ref": view.case_ref, "meeting_code": meeting_code(view.meeting_id),  # what calendars show
        "area_name": view.area_name,
        "meeting": uk_time(view.meeting_at, missing="Time to be confirmed"),
        "deadline": (deadline_text(view.deadline, view.now) if view.state in ("draft", "sending", "sent", "not_held")
                     else f"{uk_time(view.deadline)} (no longer applies)" if view.deadline else ""),
        "deadline_passed": bool(view.deadline and view.now and view.now > view.deadline and live and not view.meeting_at),
        "delay_reason": clip(view.delay_reason) if view.delay_reason else "",
        "join_url": view.join_url or "",
        "next_follow_up": (f"{view.next_follow_up[0]}: due {uk_time(view.next_follow_up[1])}"
                           if view.next_follow_up else ""),
        "state_note": view.state_note,
        "header": header,
        "header_style": header_style,
        "count": f"{filled} of {len(slots)} quorum roles filled",
        "can_set_time": "set_time" in view.can,
        "can_cancel": "cancel" in view.can,
        "can_record_outcome": "record_outcome" in view.can,
        "can_close": "close" in view.can,
        "can_invite": "invite" in view.can,
        "refresh_users": [view.chair_user_id] if view.chair_user_id else [],
        "quorum": rows,
        "escalation": escalation,
        "others": others,
        "failures": failures,
        "fallback": _cited(view.fallback) if view.fallback is not None and not quorate else None,
    }
    card = render("chair_status", data)
    if not data["refresh_users"]:
        card.pop("refresh", None)  # Universal Actions refresh needs whom to refresh for
    return card


STATE_HEADERS = {  # a meeting no longer gathering answers: what the card says at the top
    "draft": ("Not sent yet", "default"),
    "held": ("Held", "good"),
    "not_held": ("Not held: set a new time", "warning"),
    "closed": ("Closed", "default"),
    "cancelled": ("Cancelled", "attention"),
    "withdrawn": ("Withdrawn", "default"),
}


def deadline_text(deadline: datetime | None, now: datetime | None) -> str:
    """"Meet by Mon 30 Nov 23:59", or, once it has passed, plainly that it has and by how long."""
    if deadline is None:
        return "As soon as practicable (no fixed deadline)"
    late = overdue_by(deadline, now)
    if late is None:
        return f"Meet by {uk_time(deadline)}"
    return f"The deadline passed {how_long(late)} ago: {uk_time(deadline)}"


def time_card(meeting_id: str, case_ref: str, meeting_at: datetime | None, join_url: str | None,
              deadline: datetime | None, now: datetime | None = None) -> dict:
    """The chair's form for the meeting's time and Teams link (verb time_submit: meeting_date,
    meeting_time, join_url). Sent as its own message, so nothing overwrites it while typed in."""
    day, clock = _local_parts(meeting_at)
    return _tidy_inputs(render("time", {
        "meeting_id": meeting_id, "case_ref": case_ref, "meeting_date": day, "meeting_time": clock,
        "join_url": join_url or "", "deadline": deadline_text(deadline, now),
        "meeting": uk_time(meeting_at, missing="not set yet"),
    }))


def invite_card(meeting_id: str, case_ref: str, choices: Sequence[tuple[str, str]],
                email_roles: Sequence[tuple[str, str]] = ()) -> dict:
    """The chair's form to invite anyone from the directory (verb invite_contact: contact_id),
    as its own message. `choices`: (contact id, "Police: DC Bea Madeup"). With `email_roles`
    ((role, name); Graph configured) also by email address (verb invite_email: invite_email,
    invite_role); then no field is required on the card (the two buttons use different
    fields) and the bot says what is missing."""
    by_email = bool(email_roles)
    return render("invite", {"meeting_id": meeting_id, "case_ref": case_ref,
                             "choices": [{"title": t, "value": v} for v, t in choices],
                             "pick_required": bool(choices) and not by_email,
                             "pick_optional": bool(choices) and by_email,
                             "by_email": by_email,
                             "roles": [{"title": t, "value": r} for r, t in email_roles]})


def cancel_card(meeting_id: str, case_ref: str, meeting_at: datetime | None) -> dict:
    """The chair's form to cancel (verb meeting_cancel: cancel_reason), as its own message."""
    return render("cancel", {"meeting_id": meeting_id, "case_ref": case_ref,
                             "meeting": uk_time(meeting_at, missing="time not set")})


# --- reminders and the outcome ------------------------------------------------------------------

def reminder_card(meeting_id: str, kind: str, detail: Mapping[str, Any], *, minutes_to: Sequence[str] = ()) -> dict:
    """A reminder (bot.core.reminders.Planned.detail). A follow-up has a Done button (verb
    followup_done); a minutes reminder a form (minutes_submit: minutes_date, minutes_to); an
    outcome request a button opening the outcome card (outcome_open); a passed deadline a form
    for the reason for the delay (delay_submit: delay_reason); a decline with someone else
    who could fill the role a button inviting them (invite_contact: contact_id, role)."""
    follow_up = detail.get("follow_up") or ""
    minutes = follow_up in ("minutes_due", "minutes_circulation")
    return render("reminder", {
        "meeting_id": meeting_id, "title": str(detail.get("title") or ""), "text": str(detail.get("text") or ""),
        "source": str(detail.get("source") or ""), "follow_up": follow_up,
        "minutes": minutes, "done": bool(follow_up) and not minutes, "outcome": kind == "outcome_request",
        "raises_meeting": bool(detail.get("raises_meeting")),
        "asks_date": bool(detail.get("asks_date")),
        "asks_delay_reason": bool(detail.get("asks_delay_reason")),
        "offer": dict(detail["offer"]) if isinstance(detail.get("offer"), Mapping) else None,
        "minutes_to": "\n".join(minutes_to),
    })


@dataclass(frozen=True)
class OutcomeView:
    meeting_id: str
    case_ref: str
    meeting_at: datetime | str | None
    invitees: Sequence[tuple[str, str]]  # (invitation id, "Police: DC Bea Madeup")
    minutes_recipients: Sequence[str] = ()
    values: Mapping[str, Any] = field(default_factory=dict)  # what the chair entered before
    error: str = ""


def outcome_card(view: OutcomeView) -> dict:
    """Action outcome_submit (meeting_id; held, quorate, attended, others_attended, decision,
    minutes_date, minutes_to)."""
    from .core.outcome import DECISIONS

    v = view.values
    return render("outcome", {
        "meeting_id": view.meeting_id, "case_ref": view.case_ref,
        "meeting": uk_time(view.meeting_at, missing="Time not recorded"), "error": view.error,
        "held": str(v.get("held") or ""), "quorate": str(v.get("quorate") or ""),
        "attended": str(v.get("attended") or ""), "others_attended": str(v.get("others_attended") or ""),
        "decision": str(v.get("decision") or ""), "minutes_date": str(v.get("minutes_date") or ""),
        "minutes_to": str(v.get("minutes_to") or "\n".join(view.minutes_recipients)),
        "minutes_hint": ("The protocol asks for the minutes to go to: " + "; ".join(view.minutes_recipients))
        if view.minutes_recipients else "",
        "invitees": [{"title": t, "value": i} for i, t in view.invitees],
        "decisions": [{"title": t, "value": k} for k, t in DECISIONS.items()],
    })


def read_outcome_form(data: Mapping[str, Any], invitation_ids: set[str]) -> tuple[dict[str, Any], str | None]:
    """The outcome form's values, checked: (values, a problem to show or None)."""
    from .core.outcome import DECISIONS

    held = str(data.get("held") or "").strip()
    if held not in ("yes", "no"):
        return {}, "Say whether the meeting was held."
    attended = tuple(a for a in str(data.get("attended") or "").split(",") if a)
    if set(attended) - invitation_ids:
        return {}, "Choose attendees from the list of invitees."
    decision = str(data.get("decision") or "").strip() or None
    if decision is not None and decision not in DECISIONS:
        return {}, "Choose one of the section 47 decisions."
    if held == "yes" and decision is None:
        return {}, "Record the section 47 decision (no enquiry, single-agency or joint)."
    quorate = {"yes": True, "no": False}.get(str(data.get("quorate") or "").strip())
    minutes_date, minutes_to, problem = read_minutes(data)
    if problem:
        return {}, problem
    return {
        "held": held == "yes", "quorate": quorate, "attended": attended,
        "others_attended": str(data.get("others_attended") or "").strip()[:500], "decision": decision,
        "minutes_date": minutes_date, "minutes_to": minutes_to if minutes_date else (),
    }, None


def read_minutes(data: Mapping[str, Any]) -> tuple[datetime | None, tuple[str, ...], str | None]:
    """The minutes fields of the outcome card or the minutes reminder: (circulated on, to
    whom, one per line, a problem to show or None). Both may be empty; the caller decides
    whether they are required."""
    when, problem = _read_date(data.get("minutes_date"))
    to = tuple(line.strip()[:200] for line in str(data.get("minutes_to") or "").splitlines() if line.strip())
    return when, to, problem


def _read_date(value: Any) -> tuple[datetime | None, str | None]:
    text = str(value or "").strip()
    if not text:
        return None, None
    try:
        d = date.fromisoformat(text)
    except ValueError:
        return None, "Enter the date as YYYY-MM-DD."
    return datetime.combine(d, time(12, 0), tzinfo=UK), None


# --- out of hours: the professional discussion ------------------------------------------------------

@dataclass(frozen=True)
class DiscussionView:
    meeting_id: str
    case_ref: str
    deadline: datetime | str | None
    rule: Any                      # the protocol's fallback (ProfessionalDiscussion or {summary, source})
    with_role: str | None          # who the discussion is with (the police), None: the partner agencies
    rationale_required: bool
    follow_on: str                 # "always", "chair_decides" or "" (none)
    follow_on_text: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""


def discussion_card(view: DiscussionView, now: datetime | None = None) -> dict:
    """Action discussion_submit (meeting_id; discussed_date, discussed_time, discussed_with,
    safety_plan, rationale, decision, follow_on)."""
    from .core.outcome import DECISIONS

    v = view.values
    day, clock = _local_parts(now) if now is not None else ("", "")
    with_label = (f"Discussed with ({role_name(view.with_role)}: name, rank or role)" if view.with_role
                  else "Discussed with (each agency: name and role)")
    return _tidy_inputs(render("discussion", {
        "meeting_id": view.meeting_id, "case_ref": view.case_ref,
        "deadline": uk_time(view.deadline, missing="none set"), "rule": _cited(view.rule), "error": view.error,
        "discussed_date": str(v.get("discussed_date") or day), "discussed_time": str(v.get("discussed_time") or clock),
        "discussed_with": str(v.get("discussed_with") or ""), "with_label": with_label,
        "safety_plan": str(v.get("safety_plan") or ""), "rationale": str(v.get("rationale") or ""),
        "rationale_required": view.rationale_required, "decision": str(v.get("decision") or ""),
        "decisions": [{"title": t, "value": k} for k, t in DECISIONS.items()],
        "follow_on_always": view.follow_on == "always", "follow_on_choice": view.follow_on == "chair_decides",
        "follow_on_text": view.follow_on_text, "follow_on": str(v.get("follow_on") or "no"),
    }))


def read_discussion_form(data: Mapping[str, Any], *, rationale_required: bool) -> tuple[dict[str, Any], str | None]:
    """The discussion form's values, checked: (values, a problem to show or None)."""
    from .core.outcome import DECISIONS

    when = uk_instant(str(data.get("discussed_date") or ""), str(data.get("discussed_time") or ""))
    if when is None:
        return {}, "Enter the date (YYYY-MM-DD) and time (HH:MM) of the discussion, UK time."
    with_whom = str(data.get("discussed_with") or "").strip()
    if not with_whom:
        return {}, "Say who took part in the discussion."
    safety_plan = str(data.get("safety_plan") or "").strip()
    if not safety_plan:
        return {}, "Record the safety planning and actions agreed."
    rationale = str(data.get("rationale") or "").strip()
    if rationale_required and not rationale:
        return {}, "Record why a meeting could not be held: the protocol asks for the rationale."
    decision = str(data.get("decision") or "").strip() or None
    if decision is not None and decision not in DECISIONS:
        return {}, "Choose one of the section 47 decisions shown."
    return {
        "at": datetime.fromisoformat(when), "with": with_whom[:300], "safety_plan": safety_plan[:2000],
        "rationale": rationale[:1000], "decision": decision,
        "follow_on": str(data.get("follow_on") or "").strip().lower() in ("yes", "true"),
    }, None
