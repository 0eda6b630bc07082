"""`node e2e/agencies.js nominate WHO NAME EMAIL` (issue 14, item 13): the script that answers
for the agencies in the demo presses an invitation card's Nominate button through the
Playground's API, as the mock user it names. Checked against a stand-in for the Playground's
two endpoints the script uses (its config and its invoke), with a recording holding one
invitation card as the bot sends it."""
from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from aiohttp import web

from bot import cards

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")


def recording(tmp_path: Path) -> Path:
    """The Playground's events recording: the bot opens a chat with police and posts the card."""
    card = cards.render("invitation", {"invitation_id": "inv-police", "case_ref": "BR-2026-0042",
                                       "role_name": "Police", "reasons": [], "preparation": []})
    entries = [
        {"activityName": "createConversation", "request": {"body": {"members": [{"id": "u-police"}]}},
         "response": {"statusCode": 201, "body": {"id": "a:police"}}},
        {"activityName": "sendToConversation",
         "request": {"method": "POST", "url": "http://x/v3/conversations/a%3Apolice/activities",
                     "body": {"attachments": [{"content": card}]}},
         "response": {"statusCode": 201, "body": {"id": "m-1"}}},
    ]
    path = tmp_path / "events.log"
    path.write_text("\n---\n".join(json.dumps(e) for e in entries) + "\n---\n", encoding="utf-8")
    return path


async def run_agencies(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "node", str(ROOT / "e2e" / "agencies.js"), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode, out.decode()


async def test_nominate_presses_the_nominate_button_as_the_agency(tmp_path, unused_tcp_port):
    invokes: list[dict] = []

    async def config(request):
        return web.json_response({"config": {"users": [{"id": "u-police", "name": "DC Bea Madeup"}]}})

    async def invoke(request):
        invokes.append(await request.json())
        return web.json_response({"type": "application/vnd.microsoft.card.adaptive", "value": {
            "type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "Strategy meeting invitation"},
                                             {"type": "TextBlock", "text": "You nominated a colleague to attend."}]}})

    app = web.Application()
    app.router.add_get("/_internal/v1/config", config)
    app.router.add_post("/_conversation/v1/invoke", invoke)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        where = ["--playground", f"http://127.0.0.1:{unused_tcp_port}", "--recording", str(recording(tmp_path))]
        code, out = await run_agencies("nominate", "bea", "PS Bo Pretend", "bo.pretend@avon-somerset.police.example",
                                       *where)
        assert code == 0, out
        assert "DC Bea Madeup, case BR-2026-0042: You nominated a colleague" in out
        (body,) = invokes
        assert body["from"] == {"id": "u-police"} and body["replyToId"] == "m-1"
        assert body["value"]["action"]["verb"] == "invite_nominate"
        assert body["value"]["action"]["data"] == {
            "verb": "invite_nominate", "invitation_id": "inv-police", "nominee_name": "PS Bo Pretend",
            "nominee_email": "bo.pretend@avon-somerset.police.example"}
        # Without an email address it says what is missing and presses nothing.
        code, out = await run_agencies("nominate", "bea", "PS Bo Pretend", *where)
        assert code == 2 and "name and email address" in out and len(invokes) == 1
    finally:
        await runner.cleanup()
