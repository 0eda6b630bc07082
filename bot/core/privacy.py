"""Children's identifiers stay out: a screen for free text, the case reference check and the
bot's own meeting code. Pure functions, no I/O: the caller passes today's date.

What the screen finds (`screen`):

* a **date of birth**: a date next to "DOB", "d.o.b.", "date of birth", "born" or "b.",
  or, in a field with no reason to hold one, any date more than a year in the past;
* an **NHS number**: 10 digits (optionally 3-3-4 with spaces or hyphens) that pass the
  modulus-11 check;
* a **National Insurance number**: two prefix letters HMRC issues, six digits, a suffix A-D;
* a full **UK postcode** in a real postcode area (BS1 5TH; not "B2 3rd floor").

Names cannot be detected reliably (a name is just a word), so the screen does not try: the
forms say so, and the case reference refuses the shapes a name takes (`check_case_reference`).
The screen errs towards refusing: a refused answer can be retyped, a leaked date of birth
cannot be recalled.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

DATE_OF_BIRTH = "a date of birth"
NHS_NUMBER = "an NHS number"
NI_NUMBER = "a National Insurance number"
POSTCODE = "a postcode"

_MONTHS = {m: i for i, names in enumerate((
    ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
    ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
    ("dec", "december")), start=1) for m in names}
_MONTH = r"(?P<{}>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_ORD = r"(?:st|nd|rd|th)?"

# Each date shape, with named parts; a year of two digits is read as 19xx/20xx below.
_DATE_SHAPES = [
    # 01/02/2019, 1-2-19, 01.02.2019 (UK order: day first)
    r"(?<![\d/.-])(?P<d1>\d{1,2})[/.-](?P<m1>\d{1,2})[/.-](?P<y1>\d{4}|\d{2})(?![\d/-]|\.\d)",
    # 2019-02-01, 2019/02/01
    r"(?<![\d/.-])(?P<y2>\d{4})[/.-](?P<m2>\d{1,2})[/.-](?P<d2>\d{1,2})(?![\d/-]|\.\d)",
    # 1 Feb 2019, 1st February 2019, 1 February, 19
    r"(?<![\w])(?P<d3>\d{1,2})" + _ORD + r"\s+(?:of\s+)?" + _MONTH.format("mn3") + r",?\s+(?P<y3>\d{4}|'?\d{2})(?!\d)",
    # February 1st, 2019 / Feb 1 2019
    r"(?<![\w])" + _MONTH.format("mn4") + r"\s+(?P<d4>\d{1,2})" + _ORD + r",?\s+(?P<y4>\d{4})(?!\d)",
]
_DATE = re.compile("|".join(f"(?:{s})" for s in _DATE_SHAPES), re.IGNORECASE)
# Only a month and a year, or a year: a date of birth when it follows a birth keyword.
_PARTIAL = re.compile(r"(?<![\w])(?:" + _MONTH.format("mn5") + r"\s+)?(?P<y5>(?:19|20)\d{2})(?!\d)", re.IGNORECASE)
_BIRTH = re.compile(r"(?<![\w.])(?:d\.?\s?o\.?\s?b\b\.?|date\s+of\s+birth|born|birth\s?date|b\.)", re.IGNORECASE)
# How far after a birth keyword its date may start ("DOB: ", "born on the ", "date of birth is ").
_NEAR = re.compile(r"[\s:=\-–(]*(?:(?:is|was|on|in|the|of)\s+){0,2}", re.IGNORECASE)

_NHS = re.compile(r"(?<![\d+])(?<!\d[ -])(\d{3})([ -]?)(\d{3})\2(\d{4})(?![\d])(?![ -]\d)")
# HMRC never issues D, F, I, Q, U or V first, nor D, F, I, O, Q, U or V second, nor these pairs.
_NI = re.compile(r"(?<![A-Za-z0-9])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z])\s?(\d{2})\s?(\d{2})\s?(\d{2})\s?([A-D])(?![A-Za-z0-9])",
                 re.IGNORECASE)
_NI_NEVER = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}
_POSTCODE = re.compile(r"(?<![A-Za-z0-9])([A-Z]{1,2})(\d[A-Z\d]?)\s*(\d)([ABD-HJLNP-UW-Z]{2})(?![A-Za-z0-9])",
                       re.IGNORECASE)
# The postcode areas of the UK, the Crown dependencies and BFPO: "room B2 3RD" is Birmingham's
# shape, so a small-letter ordinal ("3rd", "4th") after capitals is not read as one.
_POSTCODE_AREAS = frozenset("""
AB AL B BA BB BD BF BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT DY E EC EH EN EX FK FY
G GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW KY L LA LD LE LL LN LS LU M ME MK ML N NE NG NN NP NR NW
OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF
WN WR WS WV YO ZE""".split())


@dataclass(frozen=True)
class Finding:
    kind: str       # DATE_OF_BIRTH, NHS_NUMBER, NI_NUMBER or POSTCODE
    why: str = ""   # how it was recognised, in words ("next to 'DOB'")

    def message(self, field_label: str) -> str:
        return f"{field_label}: this looks like {self.kind}{f' ({self.why})' if self.why else ''}."


def _year(text: str) -> int:
    y = int(text.lstrip("'"))
    if len(text.lstrip("'")) == 2:
        y += 2000 if y <= 50 else 1900
    return y


def _as_date(m: re.Match) -> date | None:
    g = m.groupdict()
    try:
        if g["y1"]:
            return date(_year(g["y1"]), int(g["m1"]), int(g["d1"]))
        if g["y2"]:
            return date(int(g["y2"]), int(g["m2"]), int(g["d2"]))
        if g["y3"]:
            return date(_year(g["y3"]), _MONTHS[g["mn3"].lower()], int(g["d3"]))
        if g["y4"]:
            return date(int(g["y4"]), _MONTHS[g["mn4"].lower()], int(g["d4"]))
    except ValueError:  # 31/02/2019: shaped like a date, but no day
        return None
    return None


def dates_in(text: str) -> list[tuple[int, int, date | None]]:
    """Every date written in `text`: (start, end, the date, or None for an impossible one)."""
    return [(m.start(), m.end(), _as_date(m)) for m in _DATE.finditer(text)]


def nhs_number_valid(digits: str) -> bool:
    """The NHS number check digit: modulus 11 with weights 10..2; 10 is never issued."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    remainder = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1))) % 11
    check = 11 - remainder
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _a_year_before(today: date) -> date:
    try:
        return today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        return today - timedelta(days=366)


def _birth_dates(text: str) -> list[Finding]:
    found = []
    spans = dates_in(text)
    for k in _BIRTH.finditer(text):
        start = _NEAR.match(text, k.end()).end()
        keyword = " ".join(k.group(0).split())
        if any(s == start for s, _, _ in spans) or _PARTIAL.match(text, start):
            found.append(Finding(DATE_OF_BIRTH, f"a date next to '{keyword}'"))
    return found


def screen(text: str, *, today: date, dates_expected: bool = False) -> list[Finding]:
    """What in `text` identifies a child (one finding per kind, in a fixed order). A field
    with `dates_expected` (a meeting's history in an agency's written information) may hold
    older dates; a date next to a birth keyword is refused everywhere."""
    if not text:
        return []
    found: dict[str, Finding] = {}
    for f in _birth_dates(text):
        found.setdefault(f.kind, f)
    if not dates_expected and DATE_OF_BIRTH not in found:
        year_ago = _a_year_before(today)
        if any(d is not None and d < year_ago for _, _, d in dates_in(text)):
            found[DATE_OF_BIRTH] = Finding(DATE_OF_BIRTH, "a date more than a year ago")
    for m in _NHS.finditer(text):
        if nhs_number_valid(m.group(1) + m.group(3) + m.group(4)):
            found.setdefault(NHS_NUMBER, Finding(NHS_NUMBER, "10 digits with a valid check digit"))
    for m in _NI.finditer(text):
        if (m.group(1).upper() not in _NI_NEVER) and (m.group(0).isupper() or m.group(0).islower()):
            found.setdefault(NI_NUMBER, Finding(NI_NUMBER))
    for m in _POSTCODE.finditer(text):
        area, inward = m.group(1).upper(), m.group(3) + m.group(4)
        ordinal = inward[1:] in ("st", "nd", "rd", "th") and not m.group(0).islower()  # "B2 3rd"; "bs1 5th" is typed small
        if area in _POSTCODE_AREAS and not ordinal:
            found.setdefault(POSTCODE, Finding(POSTCODE, "a full UK postcode"))
    order = (DATE_OF_BIRTH, NHS_NUMBER, NI_NUMBER, POSTCODE)
    return [found[k] for k in order if k in found]


@dataclass(frozen=True)
class FreeText:
    """One free-text input of a form: its id in the submitted data and its label on the form."""

    key: str
    label: str
    dates_expected: bool = False


def screen_inputs(data: dict, inputs: tuple[FreeText, ...], *, today: date) -> dict[str, str]:
    """Screen a form's free-text inputs: input id -> what was found, in words (empty: clean)."""
    problems = {}
    for field in inputs:
        value = data.get(field.key)
        if not isinstance(value, str):
            continue
        findings = screen(value, today=today, dates_expected=field.dates_expected)
        if findings:
            problems[field.key] = " ".join(f.message(field.label) for f in findings)
    return problems


# --- the case reference -----------------------------------------------------------------------

# The default case reference: up to 32 characters, at least one digit, letters, digits and
# - / . _ or spaces; never two words of letters with a space between them ("Jayden Smith"),
# never two words with small letters joined by punctuation ("Jayden-Smith"), never a date.
DEFAULT_CASE_REFERENCE_PATTERN = (
    r"^(?=[^\n]{1,32}$)(?=.*\d)"
    r"(?!.*[A-Za-z]{2,}\s+[A-Za-z]{2,})"
    r"(?!.*(?=[A-Za-z]*[a-z])[A-Za-z]{2,}[-_.,]+(?=[A-Za-z]*[a-z])[A-Za-z]{2,})"
    r"(?!.*(?<!\d)\d{1,4}[./-]\d{1,2}[./-]\d{1,4}(?!\d))"
    r"[A-Za-z0-9][A-Za-z0-9 ._/-]*$"
)
DEFAULT_CASE_REFERENCE_DESCRIPTION = (
    "the ID the case system gives the child or the case, e.g. CS-0012345: letters and digits, "
    "at least one digit, up to 32 characters, no names and no dates"
)


def check_case_reference(ref: str, pattern: str, description: str, *, today: date) -> str | None:
    """Why `ref` is not a case reference of the area (a message that says what one looks like),
    or None when it is one. The area's pattern decides the shape; the screen refuses anything
    that identifies a child beyond it, and a date is never part of a reference."""
    ref = ref.strip()
    findings = screen(ref, today=today)
    if any(d for _, _, d in dates_in(ref)) and not any(f.kind == DATE_OF_BIRTH for f in findings):
        findings.insert(0, Finding(DATE_OF_BIRTH, "a date"))
    if findings:
        found = " and ".join(f"{f.kind}{f' ({f.why})' if f.why else ''}" for f in findings)
        return f"This looks like {found}, not a case reference. A case reference is {description}."
    if not re.search(pattern, ref):
        return f"That is not a case reference. A case reference is {description}."
    return None


def cancelled_by_chair(chair_name: str) -> str:
    """What people outside the organisation are told of a cancellation: never the chair's
    own words (they may name the child), but whom to ask."""
    return f"Cancelled by the chair ({chair_name}). To ask why, contact the chair directly."


# --- the bot's own meeting code -----------------------------------------------------------------

# No 0/O, 1/I/L or 5/S pairs to misread on a phone call.
CODE_ALPHABET = "2346789ABCDEFGHJKMNPQRTUVWXYZ"
CODE_LENGTH = 7


@lru_cache(maxsize=4096)  # drawn on every card of the meeting
def meeting_code(meeting_id: str) -> str:
    """A short code for a meeting that says nothing about the child (not the case reference),
    the same every time for the same meeting: what calendars and other organisations see."""
    n = int.from_bytes(hashlib.sha256(meeting_id.encode("utf-8")).digest()[:8], "big")
    chars = []
    for _ in range(CODE_LENGTH):
        n, r = divmod(n, len(CODE_ALPHABET))
        chars.append(CODE_ALPHABET[r])
    return "".join(chars)
