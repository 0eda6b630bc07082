"""The privacy screen (bot/core/privacy.py): what it must refuse and, as important, what it
must let through (a phone number, a meeting date, a version number), the case reference
check and the meeting code."""
from datetime import date

import pytest

from bot.core.privacy import (
    DATE_OF_BIRTH, DEFAULT_CASE_REFERENCE_DESCRIPTION, DEFAULT_CASE_REFERENCE_PATTERN, NHS_NUMBER, NI_NUMBER,
    POSTCODE, CODE_ALPHABET, FreeText, check_case_reference, meeting_code, nhs_number_valid, screen, screen_inputs,
)

TODAY = date(2026, 11, 25)


def kinds(text: str, **kw) -> list[str]:
    return [f.kind for f in screen(text, today=TODAY, **kw)]


@pytest.mark.parametrize("text", [
    "Jayden Smith DOB 01/02/2019",
    "DOB: 01/02/2026",                 # a baby: recent, but next to the keyword
    "dob 1.2.19",
    "D.O.B. 01-02-2019",
    "d.o.b: 2019-02-01",
    "date of birth 3 March 2019",
    "Date of birth is 3rd of March 2019",
    "born on 1st February 2019",
    "Born February 1st, 2019",
    "born in 2019",
    "DOB Feb 2019",
    "(b. 01/02/2019)",
    "birthdate 01/02/2019",
    "DOB 31/02/2019",                  # no such day, still a date of birth typed
])
def test_a_date_next_to_a_birth_keyword_is_a_date_of_birth(text):
    assert kinds(text) == [DATE_OF_BIRTH]
    assert kinds(text, dates_expected=True) == [DATE_OF_BIRTH]  # refused even where dates belong


@pytest.mark.parametrize("text", [
    "Seen at the ICPC on 12/03/2024",
    "Previous referral 2019-02-01",
    "since 1 February 2019",
    "since February 1, 2019",
    "on 24/11/25",                     # two-digit year: 2025, a year and a day ago
])
def test_an_old_date_where_no_date_belongs_is_refused(text):
    assert kinds(text) == [DATE_OF_BIRTH]
    assert kinds(text, dates_expected=True) == []  # the agency's history may hold dates


@pytest.mark.parametrize("text", [
    "On leave until 03/12/2026, sending notes",     # a meeting date, in the future
    "Met the family on 01/11/2026",                 # recent past
    "Seen 26/11/2025",                              # just under a year
    "meeting at 14:00 on 25/11/2026",
    "Call 07700 900123 or 0117 496 0000",           # phone numbers are not NHS numbers
    "+44 7700 900123",
    "01632 960178",
    "Version 2.1.3 of the plan",
    "Scored 3/4/5 on the checklist",
    "DOB unknown; the police will bring it",         # the word alone is not a date of birth
    "Born out of hours referral",
    "Room B2 3rd floor, Council House",              # an ordinal is not a postcode
    "on the 2nd floor",
    "Covid19 2nd dose",
    "March 2019",                                    # a month and a year, no keyword
    "Case CS-0012345",
    "QQ 12 34 56 C",                                 # HMRC's example prefix, never issued
    "1234567890",                                    # fails the NHS check digit
    "ABC 12 34 56",                                  # no suffix letter
    "DC Bea Madeup, Avon and Somerset Police",
    "",
])
def test_ordinary_text_passes(text):
    assert kinds(text) == []


@pytest.mark.parametrize("text", ["943 476 5919", "9434765919", "NHS 943-476-5919", "nhs no. 401 023 2137"])
def test_an_nhs_number_passing_modulus_11_is_refused(text):
    assert kinds(text) == [NHS_NUMBER]


def test_the_modulus_11_check():
    assert nhs_number_valid("9434765919") and nhs_number_valid("4010232137")
    assert not nhs_number_valid("9434765918")  # one digit off
    assert not nhs_number_valid("943476591")  # nine digits
    assert kinds("943 476 5918") == []


@pytest.mark.parametrize("text", ["AB 12 34 56 C", "ab123456c", "NI: JG103759A", "ni no AB123456D"])
def test_a_national_insurance_number_is_refused(text):
    assert kinds(text) == [NI_NUMBER]


@pytest.mark.parametrize("text", ["GB 12 34 56 A", "AB 12 34 56 E", "DA 12 34 56 A", "AO 12 34 56 A"])
def test_prefixes_and_suffixes_hmrc_never_issues_pass(text):
    assert kinds(text) == []


@pytest.mark.parametrize("text", ["BS1 5TH", "bs1 5th", "Lives at W1A 1AA", "SW1A 2AA", "B2 3RD", "M11AE", "EC1A 1BB"])
def test_a_full_postcode_is_refused(text):
    assert kinds(text) == [POSTCODE]


@pytest.mark.parametrize("text", ["BS1", "Bristol BS1 area", "XX1 1AA", "QQ1 1AA"])
def test_a_district_or_an_unknown_area_is_not_a_postcode(text):
    assert kinds(text) == []


def test_everything_found_is_named_once_in_a_fixed_order():
    text = "Jayden Smith DOB 01/02/2019 NHS 943 476 5919 NI AB123456C BS1 5TH, born 1/2/19"
    assert kinds(text) == [DATE_OF_BIRTH, NHS_NUMBER, NI_NUMBER, POSTCODE]


def test_screen_inputs_names_the_field_and_what_was_found():
    inputs = (FreeText("decline_reason", "Why your agency cannot attend"),
              FreeText("written_information", "Information in writing", dates_expected=True))
    problems = screen_inputs({"decline_reason": "Inset day; child DOB 01/02/2019",
                              "written_information": "Known since 12/03/2019"}, inputs, today=TODAY)
    assert problems == {"decline_reason": "Why your agency cannot attend: this looks like a date of birth "
                                          "(a date next to 'DOB')."}
    assert screen_inputs({"decline_reason": 5}, inputs, today=TODAY) == {}  # not text: the form's own check


# --- the case reference ------------------------------------------------------------------------

def ref_problem(ref: str, pattern: str = DEFAULT_CASE_REFERENCE_PATTERN,
                description: str = DEFAULT_CASE_REFERENCE_DESCRIPTION) -> str | None:
    return check_case_reference(ref, pattern, description, today=TODAY)


@pytest.mark.parametrize("ref", ["CS-0012345", "BR-2026-0042", "CASE-1", "1234567", "CS 12345", "CS-ABC-123",
                                 "LCS/123456", "X" * 31 + "1"])
def test_the_default_accepts_references(ref):
    assert ref_problem(ref) is None


@pytest.mark.parametrize("ref", [
    "Jayden Smith", "Jayden Smith 7", "JAYDEN SMITH 1", "Jayden-Smith-1", "smith.jayden 1", "Jayden",
    "X" * 32 + "1",                       # over 32 characters
    "CS-1 01/02/2019", "2019-02-01", "REF 1 February 2019", "CS 01.02.19",
    "Jayden Smith DOB 01/02/2019",
])
def test_the_default_refuses_names_dates_and_long_text(ref):
    problem = ref_problem(ref)
    assert problem is not None and DEFAULT_CASE_REFERENCE_DESCRIPTION in problem


def test_a_date_in_a_reference_is_refused_even_when_recent():
    assert "a date" in ref_problem("CS-1 on 24/11/2026", pattern=r".*")


def test_an_areas_own_pattern_decides_the_shape():
    person_id = r"^\d{6,8}$"
    assert ref_problem("1234567", person_id, "the Mosaic person ID (6 to 8 digits)") is None
    problem = ref_problem("CS-0012345", person_id, "the Mosaic person ID (6 to 8 digits)")
    assert problem == "That is not a case reference. A case reference is the Mosaic person ID (6 to 8 digits)."
    # The screen applies whatever the pattern: an NHS number is not a case reference.
    assert "an NHS number" in ref_problem("9434765919", r"^\d{10}$", "ten digits")


# --- the meeting code -------------------------------------------------------------------------

def test_the_meeting_code_is_short_stable_and_unambiguous():
    ids = [f"{n:032x}" for n in range(2000)]
    codes = [meeting_code(i) for i in ids]
    assert codes == [meeting_code(i) for i in ids]  # deterministic
    assert all(len(c) == 7 and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert not set("01OIL5S") & set(CODE_ALPHABET)
    assert len(set(codes)) == len(codes)
    assert meeting_code("a1b2") not in "a1b2"


# --- the area's format, on load and on the command line ------------------------------------------

def test_a_profile_may_declare_its_case_reference_and_a_bad_pattern_is_refused_on_load(tmp_path):
    import shutil

    from bot.config_loader import ConfigError, load_profiles

    shutil.copytree("config", tmp_path / "config")
    path = tmp_path / "config" / "walsall.yaml"
    original = path.read_text(encoding="utf-8")
    path.write_text(original + '  pattern: "^\\\\d{6,8}$"\n  description: "the Mosaic person ID (6 to 8 digits)"\n',
                    encoding="utf-8")
    walsall = load_profiles(tmp_path / "config")["walsall"]
    assert walsall.case_reference.description == "the Mosaic person ID (6 to 8 digits)"
    assert walsall.case_reference.details_from.startswith("by secure email from the MASH")
    path.write_text(original + '  pattern: "^(CS-"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_profiles(tmp_path / "config")
    assert any("walsall.yaml" in p and "case_reference.pattern" in p and "not a regular expression" in p
               for p in e.value.problems)


def test_every_shipped_area_says_where_the_childs_details_come_from():
    from bot.config_loader import load_profiles

    for profile in load_profiles().values():
        assert profile.case_reference.details_from.startswith("by secure email")


def test_the_plan_command_refuses_a_name_as_a_reference_and_says_what_one_looks_like(tmp_path, capsys):
    import json

    from bot import cli

    request = {"area": "bristol", "decided_at": "2026-11-25T10:30:00+00:00", "case_ref": "Jayden Smith",
               "children": [{"ref": "C1", "age": 6, "education": "school"}], "concerns": ["physical_abuse"]}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(request), encoding="utf-8")
    assert cli.main(["plan", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("case_ref: That is not a case reference. A case reference is the ID the case system")
    path.write_text(json.dumps({**request, "case_ref": "BR-1", "children": [{"ref": "Jayden Smith DOB 01/02/2019"}]}),
                    encoding="utf-8")
    assert cli.main(["plan", str(path)]) == 2
    assert capsys.readouterr().err.startswith("children[0].ref: This looks like a date of birth")
    path.write_text(json.dumps({**request, "case_ref": "BR-1"}), encoding="utf-8")
    assert cli.main(["plan", str(path)]) == 0
