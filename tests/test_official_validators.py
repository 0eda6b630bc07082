"""Microsoft's own tools, offline, over what the bot ships (issue 6).

- The Teams app package that manifest/build.py makes is checked with @microsoft/app-manifest
  (the Teams manifest schema, bundled: no network) and its icons by their PNG headers.
- Every card the bot sends, filled by the bot's own builders (tests/card_samples.py), is parsed
  by the official `adaptivecards` library targeting Adaptive Cards 1.5, as Teams renders them;
  unknown properties, invalid values, lost properties and oversize cards fail.
- Deliberately broken cards and manifests prove the checks can fail.

The Node.js tools live in tests/node (installed by scripts/setup_node.sh). Without node or
without them the tests that need them are skipped, saying why, except under CI (the `CI`
environment variable), where they fail: CI must really run them.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from bot import cards
from bot.cards import welcome_card
from tests.card_samples import card_samples, reminder_kinds, reminder_kinds_covered

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"
BUILD = ROOT / "manifest" / "build.py"
APP_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"  # a test GUID, registered nowhere
NEEDED = ("@microsoft/app-manifest", "fs-extra", "adaptivecards")


# --- helpers ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def node() -> str:
    """The node executable, with tests/node's packages installed; else skip (fail under CI)."""
    exe = shutil.which("node")
    missing = None
    if exe is None:
        missing = "node is not installed"
    else:
        absent = [p for p in NEEDED if not (NODE_DIR / "node_modules" / p / "package.json").is_file()]
        if absent:
            missing = f"tests/node/node_modules lacks {', '.join(absent)}: run bash scripts/setup_node.sh"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI must run the official validators")
        pytest.skip(missing)
    return exe


def run_node(node: str, script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([node, str(NODE_DIR / script), *map(str, args)], cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=120)


def run_build(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "MicrosoftAppId"}
    return subprocess.run([sys.executable, str(BUILD), *args], env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=60)


def shown(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def png_header(data: bytes) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) from the IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG file"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, colour


def png_rgba(data: bytes) -> list[tuple[int, int, int, int]]:
    """Every pixel of an 8-bit RGBA PNG (all five row filters), for checking the outline icon."""
    width, height, depth, colour = png_header(data)
    assert (depth, colour) == (8, 6), "expected 8-bit RGBA"
    pos, idat = 8, b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw, stride, prev, pixels = zlib.decompress(idat), width * 4, bytearray(width * 4), []
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a, b, c = (line[i - 4] if i >= 4 else 0), prev[i], (prev[i - 4] if i >= 4 else 0)
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        pixels += [tuple(line[i:i + 4]) for i in range(0, stride, 4)]
        prev = line
    return pixels


# --- manifest/build.py ------------------------------------------------------------------------

def test_build_refuses_without_an_app_id(tmp_path):
    out = tmp_path / "app.zip"
    result = run_build("--out", str(out))
    assert result.returncode == 2, shown(result)
    assert len(result.stderr.strip().splitlines()) == 1 and "MicrosoftAppId" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


@pytest.mark.parametrize("args,env", [
    (["--app-id", "not-a-guid"], None),
    (["--app-id", "3f2504e0-4f89-41d3-9a0c-0305e82c330"], None),      # one digit short
    (["--app-id", "{3f2504e0-4f89-41d3-9a0c-0305e82c3301}"], None),   # braces
    ([], {"MicrosoftAppId": "3f2504e0 4f89 41d3 9a0c 0305e82c3301"}),
])
def test_build_refuses_an_app_id_that_is_not_a_guid(tmp_path, args, env):
    out = tmp_path / "app.zip"
    result = run_build(*args, "--out", str(out), env=env)
    assert result.returncode == 2, shown(result)
    assert len(result.stderr.strip().splitlines()) == 1 and "is not a GUID" in result.stderr
    assert not out.exists()


def test_build_refuses_a_version_that_is_not_x_y_z(tmp_path):
    result = run_build("--app-id", APP_ID, "--version", "1.0", "--out", str(tmp_path / "app.zip"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, shown(result)
    assert "X.Y.Z" in result.stderr


def test_build_takes_the_app_id_from_the_bot_s_environment_variable(tmp_path):
    out = tmp_path / "pkg" / "app.zip"
    result = run_build("--version", "2.3.4", "--out", str(out), env={"MicrosoftAppId": APP_ID})
    assert result.returncode == 0, shown(result)
    assert result.stdout.strip() == str(out)
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["id"] == APP_ID and manifest["bots"][0]["botId"] == APP_ID
    assert manifest["version"] == "2.3.4"


def test_the_package_holds_the_manifest_and_icons_at_its_root(tmp_path):
    out = tmp_path / "app.zip"
    assert run_build("--app-id", APP_ID, "--out", str(out)).returncode == 0
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(zf.read("manifest.json"))
        color, outline = zf.read("color.png"), zf.read("outline.png")
    assert "{{" not in json.dumps(manifest)
    assert manifest["name"]["short"] == "Strategy meetings"
    assert "child-protection strategy meetings" in manifest["description"]["short"]
    bot = manifest["bots"][0]
    assert bot["scopes"] == ["personal"] and bot["supportsFiles"] is False and bot["isNotificationOnly"] is False
    commands = [c for cl in bot["commandLists"] for c in cl["commands"]]
    assert commands == [{"title": "new", "description": "Request a strategy meeting"}]
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    # Teams: a 192x192 full-colour icon and a 32x32 outline icon, white on transparent
    assert png_header(color)[:2] == (192, 192)
    assert png_header(outline)[:2] == (32, 32)
    pixels = png_rgba(outline)
    assert all(a == 0 or (r, g, b) == (255, 255, 255) for r, g, b, a in pixels)
    assert any(a == 255 for *_, a in pixels) and any(a == 0 for *_, a in pixels)
    # the same bytes each time: a rebuilt package is identical
    again = tmp_path / "again.zip"
    assert run_build("--app-id", APP_ID, "--out", str(again)).returncode == 0
    assert again.read_bytes() == out.read_bytes()


def test_the_app_package_passes_the_official_manifest_schema(node, tmp_path):
    out = tmp_path / "app.zip"
    built = run_build("--app-id", APP_ID, "--version", "1.4.0", "--out", str(out))
    assert built.returncode == 0, shown(built)
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(out) as zf:
        zf.extractall(unpacked)
    result = run_node(node, "validate-manifest.js", unpacked / "manifest.json")
    assert result.returncode == 0, shown(result)
    assert "valid against https://developer.microsoft.com/json-schemas/teams/v1." in result.stdout


def test_the_manifest_check_fails_on_a_broken_manifest(node, tmp_path):
    out = tmp_path / "app.zip"
    assert run_build("--app-id", APP_ID, "--out", str(out)).returncode == 0
    with zipfile.ZipFile(out) as zf:
        zf.extractall(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["bots"][0]["botId"] = "not-a-guid"
    manifest["bots"][0]["scopes"] = ["personal", "everyone"]
    manifest["name"]["short"] = "A name far longer than thirty characters"
    manifest["supportsEverything"] = True
    (tmp_path / "broken.json").write_text(json.dumps(manifest))
    result = run_node(node, "validate-manifest.js", tmp_path / "broken.json")
    assert result.returncode == 1, shown(result)
    for needle in ("/bots/0/botId", "/bots/0/scopes/1", "/name/short", "supportsEverything"):
        assert needle in result.stdout, shown(result)
    # an icon missing from beside the manifest
    (tmp_path / "outline.png").unlink()
    result = run_node(node, "validate-manifest.js", tmp_path / "manifest.json")
    assert result.returncode == 1 and "icons.outline" in result.stdout, shown(result)


# --- the cards --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def samples() -> dict[str, dict]:
    return card_samples()


def test_every_card_template_has_samples(samples):
    templates = {p.stem for p in cards.TEMPLATE_DIR.glob("*.json")}
    covered = {name.split(".", 1)[0] for name in samples}
    assert covered == templates, f"templates without a sample in tests/card_samples.py: {sorted(templates - covered)}"


def test_every_reminder_kind_has_a_sample(samples):
    missing = reminder_kinds() - reminder_kinds_covered(samples)
    assert not missing, f"reminder kinds without a sample in tests/card_samples.py: {sorted(missing)}"


def validate_cards(node: str, directory: Path) -> tuple[subprocess.CompletedProcess, dict | None]:
    result = run_node(node, "validate-cards.js", directory, "--json")
    try:
        return result, json.loads(result.stdout)
    except json.JSONDecodeError:
        return result, None


def test_every_card_passes_the_official_adaptive_cards_parser(node, samples, tmp_path):
    for name, card in samples.items():
        (tmp_path / f"{name}.json").write_text(cards.card_json(card), encoding="utf-8")
    result, report = validate_cards(node, tmp_path)
    assert report is not None, shown(result)
    problems = {c["file"]: c["problems"] for c in report["cards"] if c["problems"]}
    assert result.returncode == 0 and not problems, "\n".join(
        f"{file}:\n  - " + "\n  - ".join(p) for file, p in problems.items()) or shown(result)
    assert report["checked"] == len(samples) and report["targetVersion"] == "1.5"
    # the Teams extension is the only thing allowed beside the library's schema, and is used
    assert any(c["teamsExtensions"] == ["$.msteams"] for c in report["cards"])


def test_the_card_check_fails_on_broken_cards(node, tmp_path):
    good = welcome_card()

    def card(**changes) -> dict:
        return {**json.loads(json.dumps(good)), **changes}

    text = {"type": "TextBlock", "text": "Strategy meeting", "wrap": True}
    broken = {
        "unknown_property": card(body=[{**text, "wrapp": True}]),
        "wrong_type": card(body=[{**text, "type": "TextBlok"}]),
        "invalid_value": card(body=[{**text, "size": "Huge"}]),
        "string_for_boolean": card(body=[{**text, "wrap": "yes"}]),
        "misspelt_in_fallback": card(actions=[{**good["actions"][0], "fallback": {**good["actions"][0]["fallback"], "titel": "x"}}]),
        "msteams_not_at_root": card(body=[{"type": "Container", "msteams": {"width": "Full"}, "items": [text]}]),
        "msteams_misspelt": card(msteams={"widht": "Full"}),
        "newer_than_1_5": card(version="1.6"),
        "too_big": card(body=[{**text, "text": "x" * 50_000}]),
    }
    for name, c in broken.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(c), encoding="utf-8")
    # controls: the real card, and the same with Teams' documented full-width extension
    (tmp_path / "ok_welcome.json").write_text(json.dumps(good), encoding="utf-8")
    (tmp_path / "ok_full_width.json").write_text(json.dumps(card(msteams={"width": "Full"})), encoding="utf-8")

    result, report = validate_cards(node, tmp_path)
    assert report is not None, shown(result)
    assert result.returncode == 1, shown(result)
    by_file = {c["file"]: c["problems"] for c in report["cards"]}
    assert by_file["ok_welcome.json"] == [] and by_file["ok_full_width.json"] == []
    expected = {
        "unknown_property": 'no property "wrapp"',
        "wrong_type": "TextBlok",
        "invalid_value": "Huge",
        "string_for_boolean": "must be a boolean",
        "misspelt_in_fallback": 'Action.Submit has no property "titel"',
        "msteams_not_at_root": 'Container has no property "msteams"',
        "msteams_misspelt": "$.msteams.widht: not a documented Teams card property",
        "newer_than_1_5": "newer than 1.5",
        "too_big": "bytes of JSON",
    }
    for name, needle in expected.items():
        problems = by_file[f"{name}.json"]
        assert any(needle in p for p in problems), f"{name}: expected a problem mentioning {needle!r}, got {problems}"


def test_the_card_check_refuses_an_empty_folder(node, tmp_path):
    result = run_node(node, "validate-cards.js", tmp_path)
    assert result.returncode == 2 and "no *.json card files" in result.stderr, shown(result)
