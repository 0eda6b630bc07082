"""The answer page in headless Debian Chromium on a phone-sized screen (e2e/answer-page.spec.js,
playwright-core): accept, decline with a reason (after the empty reason is refused on its
field), and a used, an expired and a forged link. The bot runs here, in the test's event loop,
on a real port; the script gets the links and the database is checked after it.

Needs node, Chromium and e2e/node_modules/playwright-core, like tests/test_e2e_playground.py:
skipped without them, failed under CI. Screenshots go to a temporary directory;
`E2E_SCREENSHOT_DIR=docs/screenshots` (or running the script by hand) refreshes the README's."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.answer_links import AnswerLinks
from bot.app import create_app
from bot.keys import CLOCK, SERVICE
from bot.settings import Settings
from tests.emulators.connector import install_as_directories_say, running_emulator
from tests.test_answer_page import SECRET, START
from tests.test_bot_flow import CHAIR_AAD, Person, Teams, _sent_invitations

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "e2e" / "answer-page.spec.js"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
PORT = int(os.environ.get("ANSWER_PAGE_PORT", "0"))  # 0: any free port


def missing_tools() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not CHROMIUM.is_file():
        return f"Chromium is not installed at {CHROMIUM}: run bash scripts/setup_browser.sh"
    if not (ROOT / "e2e" / "node_modules" / "playwright-core" / "package.json").is_file():
        return "e2e/node_modules lacks playwright-core: run bash scripts/setup_node.sh"
    return None


@pytest.mark.slow
async def test_the_answer_page_on_a_phone(tmp_path):
    missing = missing_tools()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI must run the browser test")
        pytest.skip(missing)
    shots = Path(os.environ.get("E2E_SCREENSHOT_DIR") or tmp_path / "screenshots")
    async with running_emulator() as emulator:
        install_as_directories_say(emulator)  # the app, where the directory says it is installed
        settings = replace(Settings(), database_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}", delivery_poll_seconds=0.2,
                           answer_link_secret=SECRET, var_dir=tmp_path)
        app = create_app(settings)
        async with TestClient(TestServer(app, host="127.0.0.1", port=PORT)) as client:
            app[CLOCK].now = START
            t = Teams(client, emulator)
            chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", emulator.add_conversation("a:chair", "29:chair"))
            meeting_id, _, invitation = await _sent_invitations(t, chair, ("social_care", "health", "police"))
            base = str(client.make_url("")).rstrip("/")
            links = app[SERVICE].answer_links
            made_long_ago = AnswerLinks(SECRET, base, clock=lambda: START - timedelta(days=11))
            accept = links.url(invitation["police"]).replace(links.public_url, base)
            answer_links = {
                "accept": accept,
                "decline": links.url(invitation["health"]).replace(links.public_url, base),
                "expired": made_long_ago.url(invitation["social_care"]),
                "forged": accept[:-4] + ("AAAA" if not accept.endswith("AAAA") else "BBBB"),
            }
            env = {**os.environ, "ANSWER_LINKS": json.dumps(answer_links), "E2E_SCREENSHOT_DIR": str(shots)}
            proc = await asyncio.create_subprocess_exec(shutil.which("node"), str(SCRIPT), cwd=ROOT, env=env,
                                                        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=180)
            except asyncio.TimeoutError:
                proc.kill()
                stdout, stderr = await proc.communicate()
                pytest.fail(f"e2e/answer-page.spec.js ran over 180 s\n{stdout.decode()}\n{stderr.decode()}")
            assert proc.returncode == 0 and b"PASSED" in stdout, f"{stdout.decode()}\n{stderr.decode()}"
            rows = {i.role: i for i in app[SERVICE].repo.list_invitations(meeting_id)}
            assert rows["police"].response == "accepted"
            assert rows["health"].response == "declined" and rows["health"].response_detail.startswith("No officer free")
            assert rows["social_care"].response == "none"  # the expired link changed nothing
    assert sorted(p.name for p in shots.glob("answer-page-*.png")) == [
        "answer-page-01-invitation.png", "answer-page-02-accepted.png", "answer-page-03-decline-error.png",
        "answer-page-04-declined.png", "answer-page-05-used.png", "answer-page-06-expired.png",
        "answer-page-07-forged.png"]
