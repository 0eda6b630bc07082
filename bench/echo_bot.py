"""The baseline of bench/card_actions.py: a bare botbuilder echo bot, nothing else.

A stock CloudAdapter served by `adapter.process` (as botbuilder's samples serve it), with
the msrest speed-up the real bot applied while it ran on CloudAdapter
(bot/adapters/teams/speedups.py; see `apply_msrest_speedup`), so that the ratio measures
the bot's own work and not a fix the baseline lacks. It answers an
`adaptiveCard/action` invoke with a small card naming the verb pressed: no database, no
outbound call. Like the real bot (bot/adapters/teams/handler.py), it answers the invoke
with an InvokeResponse whose body is the AdaptiveCardInvokeResponse model, because
ActivityHandler's own path serialises the body twice and CloudAdapter then fails on it.

    .venv/bin/python bench/echo_bot.py --port 3979     # serve it on its own
"""
from __future__ import annotations

import argparse
import sys
from http import HTTPStatus
from types import SimpleNamespace

from aiohttp import web
from botbuilder.core import ActivityHandler, InvokeResponse, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import AdaptiveCardInvokeResponse


CARD = "application/vnd.microsoft.card.adaptive"


def apply_msrest_speedup() -> None:
    """For every incoming activity CloudAdapter builds connector clients, each with a msrest
    ClientRetryPolicy whose __init__ tests 999 status codes for membership in a 500-item
    list (msrest 0.7.1): ~9 ms of CPU per activity. A frozenset gives the same codes. Kept
    here, not imported from the bot, because the baseline needs it whatever the bot's own
    Teams edge does (the bot stops using CloudAdapter's turn pipeline in issue 13)."""
    from msrest.universal_http.requests import ClientRetryPolicy

    if not isinstance(ClientRetryPolicy.safe_codes, frozenset):
        ClientRetryPolicy.safe_codes = frozenset(ClientRetryPolicy.safe_codes)


def echo_card(verb: str) -> dict:
    return {"type": "AdaptiveCard", "version": "1.4",
            "body": [{"type": "TextBlock", "text": f"You pressed {verb}", "wrap": True}]}


class EchoBot(ActivityHandler):
    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        activity = turn_context.activity
        if activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn_context)
        value = activity.value if isinstance(activity.value, dict) else {}
        action = value.get("action") if isinstance(value.get("action"), dict) else {}
        body = AdaptiveCardInvokeResponse(status_code=200, type=CARD, value=echo_card(str(action.get("verb") or "")))
        return InvokeResponse(status=int(HTTPStatus.OK), body=body)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(f"You said {turn_context.activity.text}")


def create_echo_app() -> web.Application:
    """The echo bot as an aiohttp app with POST /api/messages, Bot Framework authentication
    off (no app id), as for the real bot in the bench."""
    apply_msrest_speedup()
    # The attribute names ConfigurationBotFrameworkAuthentication reads; empty: no app id.
    config = SimpleNamespace(APP_ID="", APP_PASSWORD="", APP_TENANTID="", APP_TYPE="MultiTenant")
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(config))
    bot = EchoBot()

    async def messages(request: web.Request) -> web.StreamResponse:
        return await adapter.process(request, bot)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a bare botbuilder echo bot (the card-action bench's baseline)")
    parser.add_argument("--port", type=int, default=3979)
    args = parser.parse_args(argv)
    web.run_app(create_echo_app(), host="127.0.0.1", port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
