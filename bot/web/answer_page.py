"""The answer page: GET/POST /answer/{token}, for invitees the bot cannot message in Teams.

GET shows the invitation (what the invitation card shows, less the case reference: the link
travels by email and calendar, which never carry it) and the four answers; it changes nothing
and uses nothing up. POST stores one answer through the card's own path
(bot/service/link_answers.py) and uses the link up in the same transaction.

Order of checks on a POST: the size (413) and type (415) of the body from its headers, then the
token (before a byte of the body is parsed), then the body itself (413 as read, 400 unreadable),
then the form nonce (400), the choice (400), the meeting's state (409), the fields (422, the
form again with each problem on its field), and finally the answer (200; 410 if the link was
used meanwhile). A refused link is a plain page with a 4xx status: 404 not valid, 410 expired
or used. Every page carries the security headers below; nothing is set in a cookie.

CSRF: the token in the URL is the credential, and each form carries a nonce signed for that
token (`form_nonce`), so a form can only be posted from a page the link itself produced.
"""
from __future__ import annotations

import logging
from importlib import resources
from typing import Any, Mapping
from urllib.parse import parse_qsl

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from .. import cards
from ..answer_links import AnswerLinks, LinkClaim, LinkRefused
from ..core.meeting import Refused
from ..core.wording import uk_time
from ..keys import SERVICE
from ..outage import BUSY_TEXT, dependency_of
from ..service.answers import LinkUsed
from ..service.link_answers import CHOICES, FIELDS, LinkContext, answer_by_link, field_problems, link_context, link_used

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 16 * 1024  # the largest answer (4,000 characters of written information, encoded) fits easily
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
REFUSALS = {  # why -> (status, heading)
    "invalid": (404, "This link is not valid"),
    "expired": (410, "This link has expired"),
    "used": (410, "This link has already been used"),
    "closed": (409, "This meeting no longer takes answers"),
    "form": (400, "This answer could not be read"),
    "type": (415, "This answer could not be read"),
    "too_large": (413, "This answer is too long"),
    "busy": (503, "The service is busy"),
    "fault": (500, "Something went wrong on our side"),
}

def _shown(value: Any) -> Any:
    """Every value the page prints, citations by their document's title (as on the cards)."""
    return cards.readable(value) if isinstance(value, str) and " §" in value else value


_templates = Environment(loader=PackageLoader("bot.web", "templates"), autoescape=select_autoescape(["html"]),
                         undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, finalize=_shown)
_CSS = resources.files("bot.web").joinpath("static/answer.css").read_bytes()


def page(template: str, status: int = 200, **context: Any) -> web.Response:
    body = _templates.get_template(template).render(**context)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=SECURITY_HEADERS)


def refused(why: str, context: LinkContext | None = None, reason: str | None = None) -> web.Response:
    status, heading = REFUSALS[why]
    return page("refused.html", status, heading=heading, reason=reason,
                chair_name=context.chair_name if context else None,
                chair_phone=context.chair_phone if context else None)


async def _claim(request: web.Request) -> tuple[LinkClaim | None, LinkContext | None, web.Response | None]:
    """The link's claim and its invitation, or the refusal page to answer with."""
    service = request.app[SERVICE]
    links: AnswerLinks | None = service.answer_links
    if links is None:
        return None, None, refused("invalid")
    try:
        claim = links.read(request.match_info["token"])
    except LinkRefused as e:
        context = await link_context(service, e.invitation_id) if e.invitation_id else None
        return None, None, refused(e.reason, context)
    context = await link_context(service, claim.invitation_id)
    if context is None:  # withdrawn or purged since the link was made
        return None, None, refused("invalid")
    if await link_used(service, claim):
        return None, None, refused("used", context)
    return claim, context, None


def _current(context: LinkContext) -> str | None:
    inv = context.invitation
    if inv.response == "none":
        return None
    heading = cards.RESPONSES.get(inv.response, (inv.response, ""))[0]
    return f"{heading} ({uk_time(inv.responded_at)})." if inv.responded_at else heading


def answer_form(request: web.Request, claim: LinkClaim, context: LinkContext, *, status: int = 200,
                errors: Mapping[str, str] | None = None, values: Mapping[str, str] | None = None,
                open_section: str | None = None) -> web.Response:
    service = request.app[SERVICE]
    links: AnswerLinks = service.answer_links
    profile = service.profiles[context.meeting.area]
    return page("answer.html", status, facts=context.facts, chair_name=context.chair_name,
                chair_phone=context.chair_phone, current=_current(context), errors=dict(errors or {}),
                values=dict(values or {}), open=open_section, form_nonce=links.form_nonce(claim),
                details_from=profile.case_reference.details_from,
                expires=uk_time(links.expires_at(claim.issued_at)))


async def show(request: web.Request) -> web.Response:
    try:
        claim, context, refusal = await _claim(request)
        if refusal is not None:
            return refusal
        assert claim is not None and context is not None
        if context.closed_reason:
            return refused("closed", context, context.closed_reason)
        return answer_form(request, claim, context)
    except Exception as e:
        return _failed(e)


async def _read_form(request: web.Request) -> dict[str, str] | None:
    """The posted fields (the first of each name), or None when the body is over the limit."""
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(8 * 1024):
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
    text = b"".join(chunks).decode("utf-8")  # UnicodeDecodeError: the caller's 400
    fields: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, max_num_fields=20, strict_parsing=False):
        fields.setdefault(name, value.replace("\r\n", "\n"))
    return fields


async def submit(request: web.Request) -> web.Response:
    try:
        return await _submit(request)
    except Exception as e:
        return _failed(e)


async def _submit(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        return refused("too_large", reason="Answers are limited to a few thousand characters. Shorten it and try again.")
    if request.content_type != "application/x-www-form-urlencoded":
        return refused("type", reason="Send your answer with the buttons on the page.")
    claim, context, refusal = await _claim(request)  # the link before a byte of the body
    if refusal is not None:
        return refusal
    assert claim is not None and context is not None
    try:
        data = await _read_form(request)
    except (UnicodeDecodeError, ValueError):
        return refused("form", context, "Send your answer with the buttons on the page.")
    if data is None:
        return refused("too_large", context, "Answers are limited to a few thousand characters. Shorten it and try again.")
    service = request.app[SERVICE]
    if not service.answer_links.form_nonce_ok(claim, data.get("form_nonce", "")):
        return refused("form", context, "This answer did not come from the page of this link. Open the link again.")
    choice = data.get("choice", "")
    if choice not in CHOICES:
        return refused("form", context, "Choose one of the answers on the page.")
    if context.closed_reason:
        return refused("closed", context, context.closed_reason)
    values = {k: data.get(k, "") for k in FIELDS[choice]}
    problems = field_problems(choice, values, service)
    if problems:
        return answer_form(request, claim, context, status=422, errors=problems, values=values, open_section=choice)
    try:
        answered = await answer_by_link(service, claim, context, choice, values)
    except LinkUsed:
        return refused("used", context)
    except Refused as e:
        return refused("closed", context, e.reason)
    response = answered.result.invitation.response
    shown = answered.shown
    nominee = ({"name": shown.get("nominee_name"), "email": shown.get("nominee_email"), "invited": shown.get("invited")}
               if response == "nominated" else None)
    return page("done.html", 200, heading=cards.RESPONSES[response][0], facts=context.facts,
                reason=shown if response == "declined" else None, nominee=nominee,
                chair_name=context.chair_name, chair_phone=context.chair_phone)


def _failed(error: Exception) -> web.Response:
    """A database or Graph outage is a 503 saying nothing was lost (one line in the log, the
    workers report the outage itself); anything else is a fault, logged in full."""
    if dependency_of(error) is not None:
        log.warning("the answer page could not reach the %s: %s", dependency_of(error), type(error).__name__)
        busy = refused("busy", reason=BUSY_TEXT)
        busy.headers["Retry-After"] = "60"
        return busy
    log.error("the answer page failed", exc_info=error)
    return refused("fault")


async def stylesheet(request: web.Request) -> web.Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"}
    return web.Response(body=_CSS, content_type="text/css", charset="utf-8", headers=headers)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/answer/{token}", show)
    app.router.add_post("/answer/{token}", submit)
    app.router.add_get("/answer-assets/answer.css", stylesheet)
