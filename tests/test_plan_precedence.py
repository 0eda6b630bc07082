"""Precedence between specific rules is decided on real instants, even in October's repeated hour."""
import shutil

import yaml

from bot.config_loader import DEFAULT_CONFIG_DIR, load_profiles
from bot.core.plan import make_plan
from bot.core.request import parse_request


def test_earliest_instant_wins_in_the_repeated_hour_of_the_october_clock_change(tmp_path):
    # From 20:45 BST, 5 hours lands at 01:45 BST (00:45 UTC) and 6 hours at 01:45 GMT (01:45 UTC):
    # the wall clocks read the same, the instants are an hour apart. List the later one first.
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    path = config / "north-somerset.yaml"
    data = yaml.safe_load(path.read_text())
    rules = data["timescales"]["rules"]
    rules[0]["timescale"] = {"hours": 5}
    rules.insert(0, {**rules[0], "id": "six_hours", "timescale": {"hours": 6}})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    profile = load_profiles(config)["north-somerset"]
    request = parse_request({"area": "north-somerset", "decided_at": "2026-10-24T20:45:00+01:00",
                             "children": [{"ref": "A"}], "flags": ["emergency_protection"]}, {"north-somerset"})
    plan = make_plan(request, profile).to_dict()
    assert plan["deadline_rule"]["id"] == "ns_emergency_protection_4_hours"
    assert plan["meeting_deadline"] == "2026-10-25T01:45:00+01:00"
    assert [(m["id"], m["deadline"]) for m in plan["matched_rules"]] == [
        ("ns_emergency_protection_4_hours", "2026-10-25T01:45:00+01:00"),
        ("six_hours", "2026-10-25T01:45:00+00:00"),
    ]
