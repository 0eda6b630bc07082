"""The sample contact directories (config/directory/) and the contact resolver."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.directory import Contact, Directory, DirectoryError, load_directory, resolve
from bot.core.vocabulary import ROLES

AREAS = ("north-somerset", "regional", "walsall", "bristol")
ON_CALL_ROLES = ("edt", "police", "paediatrician", "health")
COUNCIL_ROLES = ("social_care", "edt", "lado")
NHS_ROLES = ("health", "paediatrician", "hospital_consultant", "ward_nurse", "midwife", "gp")
DRAMA_PHONE = re.compile(r"^(01632 960\d{3}|07700 900\d{3})$")


@pytest.fixture(scope="module", params=AREAS)
def directory(request) -> Directory:
    return load_directory(request.param)


def test_every_role_resolves_in_office_hours(directory):
    assert directory.missing_roles() == []
    for role in ROLES:
        contact = resolve(directory, role, out_of_hours=False)
        assert contact is not None and contact.role == role
        assert contact.availability == "office_hours"


def test_on_call_roles_resolve_out_of_hours(directory):
    for role in ON_CALL_ROLES:
        contact = resolve(directory, role, out_of_hours=True)
        assert contact is not None and contact.role == role
        assert contact.availability in ("on_call", "always"), role
        assert contact.phone.startswith("07700 900")  # the on-call mobile


def test_sample_contacts_are_fictional(directory):
    ids = [c.id for c in directory.contacts]
    assert len(ids) == len(set(ids))
    for c in directory.contacts:
        assert DRAMA_PHONE.match(c.phone), c.phone
        assert c.email.endswith(".example"), c.email
    objects = [c.aad_object_id for c in directory.contacts]
    assert len(objects) == len(set(objects))


def test_police_and_nhs_are_other_tenants(directory):
    tenant = {r: resolve(directory, r, False).tenant_id for r in ROLES}
    council = {tenant[r] for r in COUNCIL_ROLES}
    assert len(council) == 1
    assert tenant["police"] not in council
    nhs = {tenant[r] for r in NHS_ROLES}
    assert len(nhs) == 1 and nhs.isdisjoint(council) and tenant["police"] not in nhs
    assert resolve(directory, "police", True).tenant_id == tenant["police"]


def test_directories_of_different_areas_do_not_share_people():
    seen: dict[str, str] = {}
    for area in AREAS:
        for c in load_directory(area).contacts:
            assert c.aad_object_id not in seen, (area, c.id, seen.get(c.aad_object_id))
            seen[c.aad_object_id] = area


# --- the resolver ------------------------------------------------------------------------------

def contact(cid: str, role: str, availability: str) -> dict:
    return {
        "id": cid, "role": role, "name": f"Sam {cid.title()}",
        "aad_object_id": "00000000-0000-4000-8000-000000000001", "tenant_id": "00000000-0000-4000-8000-0000000000aa",
        "email": f"{cid}@agency.example", "phone": "01632 960999", "availability": availability,
    }


def make(*contacts: dict) -> Directory:
    return Directory.model_validate({"area": "test", "contacts": list(contacts)})


def test_resolve_prefers_by_availability_then_file_order():
    d = make(
        contact("always", "police", "always"), contact("office1", "police", "office_hours"),
        contact("office2", "police", "office_hours"), contact("oncall", "police", "on_call"),
    )
    assert resolve(d, "police", out_of_hours=False).id == "office1"
    assert resolve(d, "police", out_of_hours=True).id == "oncall"
    d = make(contact("always", "police", "always"), contact("office", "police", "office_hours"))
    assert resolve(d, "police", out_of_hours=True).id == "always"
    d = make(contact("office", "gp", "office_hours"))
    assert resolve(d, "gp", out_of_hours=True).id == "office"  # they will see it when the surgery opens
    d = make(contact("oncall", "edt", "on_call"))
    assert resolve(d, "edt", out_of_hours=False).id == "oncall"
    assert resolve(d, "police", out_of_hours=False) is None


def test_contact_guids_are_normalised():
    c = Contact.model_validate({**contact("x", "gp", "always"), "tenant_id": "7E570001-0000-4000-8000-000000000000"})
    assert c.tenant_id == "7e570001-0000-4000-8000-000000000000"


# --- clear errors ---------------------------------------------------------------------------------

def write(root: Path, area: str, text: str) -> Path:
    (root / "directory").mkdir(parents=True, exist_ok=True)
    path = root / "directory" / f"{area}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """\
area: {area}
contacts:
  - id: a
    role: police
    name: "Sam Sample"
    aad_object_id: "00000000-0000-4000-8000-000000000001"
    tenant_id: "00000000-0000-4000-8000-0000000000aa"
    email: sam@police.example
    phone: "01632 960001"
    availability: office_hours
"""


def problems(root: Path, area: str) -> list[str]:
    with pytest.raises(DirectoryError) as exc:
        load_directory(area, root)
    return exc.value.problems


def test_malformed_directory_names_file_path_and_expectation(tmp_path):
    root = tmp_path / "config"
    write(root, "testarea", GOOD.format(area="testarea") + """\
  - id: b
    role: Wizard
    name: ""
    aad_object_id: "not-a-guid"
    tenant_id: "00000000-0000-4000-8000-0000000000aa"
    email: nobody-at-example
    phone: "12"
    availability: sometimes
    colour: blue
""")
    lines = problems(root, "testarea")
    assert all(line.startswith("config/directory/testarea.yaml: contacts[1].") for line in lines), lines
    joined = "\n".join(lines)
    assert "contacts[1].role: expected a role id such as 'police'" in joined  # known to the area: directory_problems
    assert "contacts[1].aad_object_id: expected a GUID" in joined
    assert "contacts[1].email: expected an email address" in joined
    assert "contacts[1].phone: expected a phone number" in joined
    assert "contacts[1].availability: unknown value 'sometimes'; expected one of 'office_hours', 'on_call' or 'always'" in joined
    assert "contacts[1].colour: is not a known field" in joined
    assert "contacts[1].name:" in joined


def test_directory_file_level_errors(tmp_path):
    root = tmp_path / "config"
    assert problems(root, "nowhere") == [f"config/directory/nowhere.yaml: no directory for this area (expected {root / 'directory' / 'nowhere.yaml'})"]
    write(root, "other", GOOD.format(area="another"))
    assert problems(root, "other") == ["config/directory/other.yaml: area: 'another' must match the file name ('other')"]
    write(root, "broken", "area: broken\ncontacts: [\n")
    [line] = problems(root, "broken")
    assert line.startswith("config/directory/broken.yaml: line ") and "not valid YAML" in line
    write(root, "alist", "- a\n- b\n")
    assert problems(root, "alist")[0].startswith("config/directory/alist.yaml: (top level): expected a mapping")
    write(root, "dupes", GOOD.format(area="dupes") + GOOD.split("contacts:\n")[1])
    assert "contact ids must be unique; repeated: a" in problems(root, "dupes")[0]
    write(root, "empty", "area: empty\ncontacts: []\n")
    assert problems(root, "empty") == ["config/directory/empty.yaml: contacts: needs at least 1 item(s)"]
    assert "is not an area id" in problems(root, "../secrets")[0]
    assert load_directory("ok", write(root, "ok", GOOD.format(area="ok")).parent.parent).contacts[0].name == "Sam Sample"
