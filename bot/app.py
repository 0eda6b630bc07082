"""The web service: an aiohttp app factory with cleanup contexts and no globals.

POST /api/messages  Bot Framework activities from Teams (JWT-authenticated when an app id is set)
GET  /healthz       liveness, the database, and any outage the workers are riding out
GET/POST /answer/{token}  the answer page for invitees the bot cannot message (bot/web/answer_page.py)

/api/messages answers everything with a 2xx or a 4xx and a short reason (a 503 only when the
database or Graph is down and the caller is not a person in Teams); in this order:
  413 too large (by Content-Length)  415 not JSON  401 bad token (before the body is read)
  413 too large (as read)  415 not UTF-8  400 not JSON / too deep / a number too long
  400 not an activity the bot can use (the reason names the field)  401 token not for this channel or serviceUrl
A fault of ours is a 500 with no detail, and a traceback in the log only.
"""
from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.web_log import AccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from .adapters.teams.hosting import Rejected, TeamsEdge, Unauthorized
from .adapters.teams.wire import MAX_AUTHORIZATION_BYTES, MAX_BODY_BYTES, decode_json
from .clock import Clock
from .keys import CLOCK, EDGE, HEALTH, OUTAGES, SETTINGS
from .settings import Settings
from .web import answer_page
from .wiring import services_context

log = logging.getLogger("bot")


def bad_request(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


def unauthorized() -> web.Response:
    return web.json_response({"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": "Bearer"})


async def read_body(request: web.Request) -> bytes:
    """The body, refused (413) as soon as it passes MAX_BODY_BYTES, whatever Content-Length said."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise Rejected(f"the body is larger than {MAX_BODY_BYTES // 1024} KiB", 413)
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Rejected(f"the body is larger than {MAX_BODY_BYTES // 1024} KiB", 413)
        chunks.append(chunk)
    return b"".join(chunks)


async def messages(request: web.Request) -> web.StreamResponse:
    edge: TeamsEdge = request.app[EDGE]
    content_type = request.headers.get("Content-Type", "")
    authorization = request.headers.get("Authorization")
    try:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise Rejected(f"the body is larger than {MAX_BODY_BYTES // 1024} KiB", 413)
        if "application/json" not in content_type.lower():
            raise Rejected("expected Content-Type: application/json", 415)
        await edge.authenticate(authorization)  # before a byte of the body is parsed
        body = decode_json(await read_body(request), content_type)
        answer = await edge.handle(body, authorization)
    except Rejected as e:
        return bad_request(e.reason, e.status)
    except Unauthorized as e:
        log.warning("refused an activity: %s", e)
        return unauthorized()
    except Exception:  # a fault of ours: never a stack trace to the caller; the log has it
        log.exception("activity processing failed")
        return bad_request("the bot could not process this activity", 500)
    if answer.body is None:
        return web.Response(status=answer.status, headers=answer.headers)
    return web.json_response(answer.body, status=answer.status, headers=answer.headers)


async def healthz(request: web.Request) -> web.Response:
    """200 "ok", or 503 "degraded" naming what is failing (a check, or an outage a worker
    is backing off from)."""
    results = {name: await check() for name, check in request.app[HEALTH].items()}
    for name in request.app[OUTAGES].down():
        results[name] = False
    ok = all(results.values())
    return web.json_response({"status": "ok" if ok else "degraded", "checks": results}, status=200 if ok else 503)


class _ProtocolErrorsOnOneLine(logging.Filter):
    """aiohttp logs a malformed request (e.g. a header over the size limit) with a traceback;
    it is the client's fault, so one line is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = f"{record.msg}: {exc.code} {exc.message}"
            record.exc_info = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


class _AccessLogWithoutLinks(AccessLogger):
    """The access log, with answer links' tokens cut out: a token is a credential."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if request.path.startswith("/answer/"):
            request = request.clone(rel_url="/answer/(token)")
        super().log(request, response, time)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> web.Application:
    """The app; `clock` (default: real time) is what the bot takes as now, also at app[CLOCK]."""
    settings = settings or Settings.from_env()
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _ProtocolErrorsOnOneLine) for f in server_log.filters):
        server_log.addFilter(_ProtocolErrorsOnOneLine())
    # Headers up to 64 KiB reach the handler, so an oversized Authorization header is our
    # 401 rather than the HTTP parser's 400 (aiohttp's default field limit is 8 KiB).
    app = web.Application(client_max_size=MAX_BODY_BYTES,
                          handler_args={"max_field_size": max(64 * 1024, 4 * MAX_AUTHORIZATION_BYTES)})
    app[SETTINGS] = settings
    app[CLOCK] = clock or Clock()
    app.cleanup_ctx.append(services_context)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    answer_page.add_routes(app)  # GET/POST /answer/{token}: people the bot cannot message in Teams
    return app


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    if not settings.auth_enabled:
        log.warning("MicrosoftAppId is not set: Bot Framework authentication is OFF (local use only)")
    log.info("database: %s", settings.database_url.split("@")[-1])
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=lambda m: log.info(m),
                access_log_class=_AccessLogWithoutLinks)
    return 0
