"""The web service: an aiohttp app factory with cleanup contexts and no globals.

POST /api/messages  Bot Framework activities from Teams (JWT-authenticated when an app id is set)
GET  /healthz       liveness and database check
"""
from __future__ import annotations

import json
import logging

from aiohttp import web

from .keys import ADAPTER, BOT, HEALTH, SETTINGS
from .settings import Settings
from .wiring import services_context

log = logging.getLogger("bot")


def bad_request(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def messages(request: web.Request) -> web.StreamResponse:
    """Check what botbuilder would turn into a 500 (no JSON content type, malformed JSON, no
    activity type) and answer it plainly; then hand the activity to the adapter."""
    if "application/json" not in request.headers.get("Content-Type", ""):
        return bad_request("expected Content-Type: application/json", 415)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return bad_request("the body is not valid JSON")
    if not isinstance(body, dict) or not isinstance(body.get("type"), str) or not body["type"]:
        return bad_request("the body is not a Bot Framework activity (it needs a 'type')")
    from botbuilder.core import serializer_helper
    from botbuilder.schema import Activity

    adapter, bot = request.app[ADAPTER], request.app[BOT]
    try:
        activity = Activity().deserialize(body)
    except Exception:  # msrest's DeserializationError, e.g. "timestamp": "garbage"
        return bad_request("the body is not a Bot Framework activity (a field has the wrong shape)")
    # Authenticate here rather than in CloudAdapter.process: botbuilder 4.17.1 raises
    # PermissionError for some refused tokens but jwt errors (bad signature, expired,
    # malformed), IndexError (unknown key id) or a bare Exception (key not endorsed for the
    # channel) for others, which CloudAdapter lets through as 500s. Every one is a 401.
    try:
        authenticated = await adapter.bot_framework_authentication.authenticate_request(
            activity, request.headers.get("Authorization", ""))
    except Exception as exc:
        log.warning("refused an activity: %s: %s", type(exc).__name__, exc)
        return web.json_response({"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": "Bearer"})
    try:
        invoke = await adapter.process_activity(authenticated, activity, bot.on_turn)
    except web.HTTPException:
        raise
    except Exception:  # never a stack trace to the caller; the log has it
        log.exception("activity processing failed")
        return bad_request("the bot could not process this activity", 500)
    if invoke:
        return web.json_response(serializer_helper(invoke.body), status=invoke.status)
    return web.Response(status=201)


async def healthz(request: web.Request) -> web.Response:
    checks = request.app[HEALTH]
    results = {name: await check() for name, check in checks.items()}
    ok = all(results.values())
    return web.json_response({"status": "ok" if ok else "degraded", "checks": results}, status=200 if ok else 503)


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings.from_env()
    app = web.Application(client_max_size=1024 * 1024)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(services_context)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    if not settings.auth_enabled:
        log.warning("MicrosoftAppId is not set: Bot Framework authentication is OFF (local use only)")
    log.info("database: %s", settings.database_url.split("@")[-1])
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=lambda m: log.info(m))
    return 0
