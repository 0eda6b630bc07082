"""What the four published areas' texts say about their profiles as a whole (hand-worked from
shared/protocols/; the rule-by-rule cases are in tests/test_plan_<area>.py). A fifth area is
not listed here: tests/test_areas.py checks it like every area."""
from __future__ import annotations

import pytest

from bot.config_loader import DEFAULT_CONFIG_DIR, load_profiles

try:
    import plan_helpers as h
except ModuleNotFoundError:  # tests/ imported as a package
    from tests import plan_helpers as h


@pytest.fixture(scope="module")
def profiles():
    return load_profiles(DEFAULT_CONFIG_DIR)


@pytest.mark.parametrize("area", h.DOCS)
def test_every_rule_cites_the_areas_own_document_or_the_004_checklist(profiles, area):
    for path, source in profiles[area].citations():
        assert source.startswith((h.DOCS[area] + " §", h.TOP_TIPS + " §")), (area, path, source)


@pytest.mark.parametrize("area", h.DOCS)
def test_the_statutory_quorum_and_what_each_agency_brings(profiles, area):
    profile = profiles[area]
    assert {q.role for q in profile.quorum.roles} == h.QUORUM_ROLES
    for role in ("social_care", "health", "police", "education", "housing"):
        assert profile.preparation_for(role), (area, role)
    assert profile.agenda and profile.escalation.summary


def test_bristol_lets_a_paediatrician_safeguarding_nurse_or_sarc_fill_health(profiles):
    health = next(q for q in profiles["bristol"].quorum.roles if q.role == "health")
    assert set(health.filled_by) == {"health", "paediatrician", "sarc"}
