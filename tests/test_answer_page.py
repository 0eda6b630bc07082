"""The answer page for invitees the bot cannot message in Teams (bot/web/answer_page.py), over
HTTP with the connector emulator: each answer, field by field errors, expired, reused and
forged links, a cancelled meeting, oversized and odd bodies; answers count for quoracy like a
card answer and update the chair's card. The link itself (bot/answer_links.py) is unit-tested
first."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.answer_links import AnswerLinks, LinkRefused, load_secret
from bot.app import create_app
from bot.directory import load_directory, resolve
from bot.keys import CLOCK, SERVICE
from bot.settings import Settings
from tests.emulators.connector import install_as_directories_say, running_emulator
from tests.test_bot_flow import CHAIR_AAD, FORM, Person, Teams, _sent_invitations, text_of, until

UK = ZoneInfo("Europe/London")
SECRET = "s" * 40
START = datetime(2026, 11, 25, 10, 5, tzinfo=UK)


# --- the link itself ---------------------------------------------------------------------------------
def links_at(now: list[datetime], secret: str = SECRET) -> AnswerLinks:
    return AnswerLinks(secret, "https://bot.example/", clock=lambda: now[0], max_age=timedelta(days=10))


def test_a_link_names_its_invitation_and_a_fresh_nonce_each_time():
    now = [START]
    links = links_at(now)
    first, second = links.token("inv-1"), links.token("inv-1")
    assert first != second
    a, b = links.read(first), links.read(second)
    assert a.invitation_id == b.invitation_id == "inv-1" and a.nonce != b.nonce
    assert links.url("inv-1").startswith("https://bot.example/answer/")


def test_a_link_expires_after_its_age_and_says_which_invitation_it_was():
    now = [START]
    links = links_at(now)
    token = links.token("inv-1")
    now[0] = START + timedelta(days=10)
    assert links.read(token).invitation_id == "inv-1"  # still valid on the last second
    now[0] = START + timedelta(days=10, seconds=1)
    with pytest.raises(LinkRefused) as e:
        links.read(token)
    assert e.value.reason == "expired" and e.value.invitation_id == "inv-1"


@pytest.mark.parametrize("forge", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),           # signature altered
    lambda t: t.replace(t.split(".")[0], "eyJpIjoib3RoZXIiLCJuIjoieCJ9"),  # payload swapped
    lambda t: links_at([START], "x" * 40).token("inv-1"),       # signed with another secret
    lambda t: "not-a-token", lambda t: "", lambda t: "a" * 600,
])
def test_a_forged_link_is_invalid_and_says_nothing_more(forge):
    links = links_at([START])
    with pytest.raises(LinkRefused) as e:
        links.read(forge(links.token("inv-1")))
    assert e.value.reason == "invalid" and e.value.invitation_id is None


def test_the_form_nonce_belongs_to_its_link():
    links = links_at([START])
    claim, other = links.read(links.token("inv-1")), links.read(links.token("inv-1"))
    assert links.form_nonce_ok(claim, links.form_nonce(claim))
    assert not links.form_nonce_ok(claim, links.form_nonce(other)) and not links.form_nonce_ok(claim, "x")


def test_the_secret_is_made_once_and_kept(tmp_path):
    made = load_secret("", tmp_path)
    assert len(made) >= 32 and load_secret("", tmp_path) == made
    assert (tmp_path / "answer-link.secret").stat().st_mode & 0o777 == 0o600
    assert load_secret("c" * 32, tmp_path) == "c" * 32
    with pytest.raises(ValueError, match="at least 32"):
        load_secret("short", tmp_path)


# --- the page over HTTP -----------------------------------------------------------------------------
@pytest.fixture
async def page(db_url, tmp_path):
    async with running_emulator() as emulator:
        install_as_directories_say(emulator)  # the app, where the directory says it is installed
        settings = replace(Settings(), database_url=db_url, delivery_poll_seconds=0.2, answer_link_secret=SECRET,
                           var_dir=tmp_path)
        app = create_app(settings)
        async with TestClient(TestServer(app)) as client:
            app[CLOCK].now = START
            t = Teams(client, emulator)
            chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", emulator.add_conversation("a:chair", "29:chair"))
            meeting_id, people, invitation = await _sent_invitations(t, chair, ("social_care", "health", "police"))
            yield Page(t, app, chair, meeting_id, people, invitation)


class Page:
    def __init__(self, t, app, chair, meeting_id, people, invitation):
        self.t, self.app, self.chair, self.meeting_id = t, app, chair, meeting_id
        self.people, self.invitation = people, invitation
        self.service = app[SERVICE]

    def link(self, role: str = "police") -> str:
        url = self.service.answer_links.url(self.invitation[role])
        return url[url.index("/answer/"):]

    async def get(self, path: str):
        r = await self.t.client.get(path)
        return r, await r.text()

    async def post(self, path: str, fields: dict, *, nonce_from: str | None = None):
        if "form_nonce" not in fields:
            _, html = await self.get(nonce_from or path)
            fields = {**fields, "form_nonce": form_nonce(html)}
        r = await self.t.client.post(path, data=fields)
        return r, await r.text()

    def invitation_row(self, role: str = "police"):
        return self.service.repo.get_invitation(self.invitation[role])


def form_nonce(html: str) -> str:
    return re.search(r'name="form_nonce" value="([^"]+)"', html).group(1)


def words(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


async def test_the_page_says_who_asks_why_and_when_and_shows_no_case_reference(page):
    r, html = await page.get(page.link())
    assert r.status == 200 and r.content_type == "text/html"
    text = words(html)
    police = resolve(load_directory("bristol"), "police", False)
    assert "Sam Chair" in text and "invites you as Police" in text and "Bristol" in text
    assert "Must take place by" in text and "Why your agency is invited" in text and "§4.2" in text
    assert "Accept: I will attend" in text and "Send decline" in text and "Nominate" in text and "Send to the chair" in text
    assert FORM["case_ref"] not in html and police.aad_object_id not in html
    assert '<html lang="en-GB">' in html and 'name="viewport"' in html and "<script" not in html and "style=" not in html
    assert r.headers["Content-Security-Policy"].startswith("default-src 'none'") and "script-src" not in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["Cache-Control"] == "no-store" and "Set-Cookie" not in r.headers
    css = await page.t.client.get("/answer-assets/answer.css")
    assert css.status == 200 and "focus-visible" in await css.text()


async def test_accept_counts_once_and_the_link_is_then_used_up(page):
    link = page.link()
    await page.get(link)
    await page.get(link)  # looking uses nothing up
    r, html = await page.post(link, {"choice": "accept"})
    assert r.status == 200 and "Thank you: your answer is recorded" in html and "You accepted" in html
    row = page.invitation_row()
    assert row.response == "accepted" and row.responded_by_aad_id == row.contact_aad_id
    kinds = [e.kind for e in page.service.repo.list_events(page.meeting_id)]
    assert "answered_by_link" in kinds
    again, html = await page.post(link, {"choice": "accept", "form_nonce": "x"})
    assert again.status == 410 and "This link has already been used" in html and "Nothing was changed" in html
    assert "Sam Chair" in html
    seen, html = await page.get(link)
    assert seen.status == 410 and "already been used" in html


async def test_a_new_link_changes_the_answer_like_the_card_does(page):
    await page.post(page.link(), {"choice": "accept"})
    r, html = await page.get(page.link())
    assert "Your answer so far: You accepted" in words(html)
    r, html = await page.post(page.link(), {"choice": "decline", "decline_reason": "Officer off sick"})
    assert r.status == 200 and page.invitation_row().response == "declined"
    assert page.invitation_row().response_detail == "Officer off sick"


async def test_decline_needs_a_reason_named_on_its_field_and_is_screened(page):
    link = page.link()
    r, html = await page.post(link, {"choice": "decline", "decline_reason": "  "})
    assert r.status == 422
    assert 'id="decline_reason-error"' in html and 'aria-describedby="decline_reason-error decline_reason-hint"' in html
    assert 'aria-invalid="true"' in html and "Give a reason: the chair needs it to escalate." in html
    assert '<details id="decline-section" open>' in html and "There is a problem" in html
    r, html = await page.post(link, {"choice": "decline", "decline_reason": "Child DOB 03/04/2019 is wrong"})
    assert r.status == 422 and "date of birth" in html and "03/04/2019" in html  # kept in the field to correct
    assert page.invitation_row().response == "none"  # nothing stored
    r, html = await page.post(link, {"choice": "decline", "decline_reason": "No officer free <b>today</b>"})
    assert r.status == 200 and "No officer free &lt;b&gt;today&lt;/b&gt;" in html
    assert page.invitation_row().response == "declined"


async def test_nominate_a_colleague_in_the_directory_invites_them(page):
    directory = load_directory("bristol")
    police = resolve(directory, "police", False)
    colleague = next(c for c in directory.contacts if c.role == "police" and c.id != police.id)
    r, html = await page.post(page.link(), {"choice": "nominate", "nominee_name": "", "nominee_email": "nope"})
    assert r.status == 422 and "Enter your colleague's name." in words(html) and "Enter a work email address" in html
    r, html = await page.post(page.link(), {"choice": "nominate", "nominee_name": colleague.name,
                                            "nominee_email": colleague.email})
    assert r.status == 200 and "sent the invitation in your place" in html
    invited = [i for i in page.service.repo.list_invitations(page.meeting_id) if i.contact_id == colleague.id]
    assert len(invited) == 1 and invited[0].nominated_by_id == page.invitation["police"]
    assert page.invitation_row().response == "nominated"


async def test_nominate_someone_outside_the_directory_asks_the_chair(page):
    r, html = await page.post(page.link(), {"choice": "nominate", "nominee_name": "PS Bo Pretend",
                                            "nominee_email": "bo.pretend@other-force.police.example"})
    assert r.status == 200 and "The chair has been asked to send them the meeting details" in html
    await until(lambda: any("bo.pretend@other-force.police.example" in text_of(c)
                            for c in page.t.cards_to(page.chair.conversation)))


async def test_information_in_writing_is_stored_and_never_echoed(page):
    r, html = await page.post(page.link(), {"choice": "written", "written_information": "Known to police since 2024."})
    assert r.status == 200 and "sending information in writing" in html and "Known to police" not in html
    row = page.invitation_row()
    assert row.response == "written" and row.response_detail == "Known to police since 2024."


async def test_answers_by_link_count_for_quoracy_and_update_the_chairs_card(page):
    for role in ("social_care", "health"):
        await page.t.press(page.people[role], "invite_accept", {"invitation_id": page.invitation[role]})
    assert not any("is quorate" in text_of(c) for c in page.t.cards_to(page.chair.conversation))
    r, _ = await page.post(page.link("police"), {"choice": "accept"})
    assert r.status == 200
    await until(lambda: any("is quorate" in text_of(c) for c in page.t.cards_to(page.chair.conversation)))
    updates = lambda: [q for q in page.t.emulator.requests if q.method == "PUT" and q.conversation_id == page.chair.conversation]
    await until(lambda: updates() and "Quorate" in text_of(updates()[-1].body))


async def test_an_expired_link_names_the_chair_and_changes_nothing(page):
    link = page.link()
    page.app[CLOCK].now = START + timedelta(days=10, minutes=1)
    r, html = await page.get(link)
    assert r.status == 410 and "This link has expired" in html and "Sam Chair" in html
    r, html = await page.t.client.post(link, data={"choice": "accept", "form_nonce": "x"}), None
    assert r.status == 410 and page.invitation_row().response == "none"


@pytest.mark.parametrize("mangle", [lambda p: p[:-3] + "abc", lambda p: "/answer/forged", lambda p: p + "x"])
async def test_a_forged_link_is_not_valid_and_changes_nothing(page, mangle):
    link = mangle(page.link())
    r, html = await page.get(link)
    assert r.status == 404 and "This link is not valid" in html and "Traceback" not in html
    r = await page.t.client.post(link, data={"choice": "accept", "form_nonce": "x"})
    assert r.status == 404 and page.invitation_row().response == "none"


async def test_a_cancelled_meeting_refuses_politely_with_the_meetings_own_words(page):
    link = page.link()
    _, html = await page.get(link)
    nonce = form_nonce(html)
    await page.t.press(page.chair, "meeting_cancel", {"meeting_id": page.meeting_id, "cancel_reason": "Family moved"})
    r, html = await page.get(link)
    assert r.status == 409 and "This meeting was cancelled" in words(html) and "nothing was changed" in words(html)
    assert "Family moved" not in html  # the chair's reason stays inside the council
    r, html = await page.post(link, {"choice": "accept", "form_nonce": nonce})
    assert r.status == 409 and page.invitation_row().response == "none"
    # and the link was not used up by the refusal
    assert not page.service.repo.answer_link_used(page.service.answer_links.read(link.split("/")[-1]).nonce)


async def test_bodies_that_are_too_big_odd_or_not_from_the_page_are_refused(page):
    link = page.link()
    _, html = await page.get(link)
    nonce = form_nonce(html)
    r = await page.t.client.post(link, data={"choice": "written", "form_nonce": nonce, "written_information": "x" * 20000})
    assert r.status == 413 and "too long" in await r.text()
    r = await page.t.client.post(link, json={"choice": "accept"})
    assert r.status == 415
    r, html = await page.post(link, {"choice": "accept", "form_nonce": "forged"})
    assert r.status == 400 and "did not come from the page" in html
    r, html = await page.post(link, {"choice": "launch", "form_nonce": nonce})
    assert r.status == 400 and "Choose one of the answers" in html
    r = await page.t.client.post(link, data=b"\xff\xfe", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 400
    r, html = await page.post(link, {"choice": "written", "form_nonce": nonce, "written_information": "y" * 4001})
    assert r.status == 422 and "Keep it to 4000 characters" in html
    assert page.invitation_row().response == "none"


async def test_the_chair_gets_the_answer_link_of_someone_teams_cannot_reach(db_url, tmp_path):
    async with running_emulator() as emulator:
        install_as_directories_say(emulator)  # the app, where the directory says it is installed
        settings = replace(Settings(), database_url=db_url, delivery_poll_seconds=0.2, answer_link_secret=SECRET,
                           var_dir=tmp_path, public_url="https://bot.example")
        app = create_app(settings)
        async with TestClient(TestServer(app)) as client:
            app[CLOCK].now = START
            t = Teams(client, emulator)
            chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", emulator.add_conversation("a:chair", "29:chair"))
            police = resolve(load_directory("bristol"), "police", False)
            emulator.block(police.aad_object_id)
            plan = (await t.press(chair, "request_submit", FORM))["value"]
            from tests.test_bot_flow import find_data
            meeting_id = find_data(plan, "meeting_id")
            await t.press(chair, "plan_send", {"meeting_id": meeting_id})
            await until(lambda: any("could not be reached" in text_of(c) for c in t.cards_to(chair.conversation)))
            notice = text_of(next(c for c in t.cards_to(chair.conversation) if "could not be reached" in text_of(c)))
            link = re.search(r"https://bot\.example(/answer/[A-Za-z0-9_.-]+)", notice).group(1)
            r = await client.get(link)
            assert r.status == 200 and "invites you as Police" in words(await r.text())
            html = await r.text()
            r = await client.post(link, data={"choice": "accept", "form_nonce": form_nonce(html)})
            assert r.status == 200
            police_row = next(i for i in app[SERVICE].repo.list_invitations(meeting_id) if i.role == "police")
            assert police_row.response == "accepted"


@pytest.mark.parametrize("may_send_mail", [True, False])
async def test_with_graph_the_unreachable_invitee_is_emailed_their_link(db_url, tmp_path, monkeypatch, may_send_mail):
    from tests.emulators.graph import MAIL_SEND, READ_WRITE, running_graph_emulator
    from tests.test_bot_flow import find_data

    organiser = "strategy.meetings@bristol-council.example"
    roles = (READ_WRITE, MAIL_SEND) if may_send_mail else (READ_WRITE,)
    async with running_graph_emulator(roles=roles) as graph, running_emulator() as emulator:
        install_as_directories_say(emulator)  # the app, where the directory says it is installed
        for key, value in graph.env(organiser=organiser).items():
            monkeypatch.setenv(key, value)
        graph.add_mailbox(organiser)
        settings = replace(Settings(), database_url=db_url, delivery_poll_seconds=0.2, answer_link_secret=SECRET,
                           var_dir=tmp_path, public_url="https://bot.example")
        app = create_app(settings)
        async with TestClient(TestServer(app)) as client:
            app[CLOCK].now = START
            t = Teams(client, emulator)
            chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", emulator.add_conversation("a:chair", "29:chair"))
            police = resolve(load_directory("bristol"), "police", False)
            emulator.block(police.aad_object_id)
            plan = (await t.press(chair, "request_submit", FORM))["value"]
            meeting_id = find_data(plan, "meeting_id")
            await t.press(chair, "plan_send", {"meeting_id": meeting_id})
            await until(lambda: any("could not be reached" in text_of(c) for c in t.cards_to(chair.conversation)))
            notice = text_of(next(c for c in t.cards_to(chair.conversation) if "could not be reached" in text_of(c)))
            if not may_send_mail:  # Graph refused the mail: the chair gets the link, and why
                assert graph.mails == [] and "the bot could not email it" in notice
                assert re.search(r"https://bot\.example/answer/", notice)
                return
            (mail,) = graph.mails_to(police.email)
            assert mail.sender == organiser and mail.subject.startswith("Your answer is needed: Strategy meeting ")
            assert FORM["case_ref"] not in mail.body_html + mail.subject and "Sam Chair" in mail.body_html
            assert "emailed a personal answer link" in notice and "/answer/" not in notice
            link = re.search(r'href="https://bot\.example(/answer/[^"]+)"', mail.body_html).group(1)
            r = await client.get(link)
            r = await client.post(link, data={"choice": "accept", "form_nonce": form_nonce(await r.text())})
            assert r.status == 200
            police_row = next(i for i in app[SERVICE].repo.list_invitations(meeting_id) if i.role == "police")
            assert police_row.response == "accepted"


async def test_two_presses_of_one_link_at_once_give_one_answer(page):
    import asyncio

    link = page.link()
    _, html = await page.get(link)
    nonce = form_nonce(html)
    statuses = sorted([r.status for r in await asyncio.gather(
        page.t.client.post(link, data={"choice": "accept", "form_nonce": nonce}),
        page.t.client.post(link, data={"choice": "decline", "decline_reason": "Sorry", "form_nonce": nonce}))])
    assert statuses == [200, 410]
    answers = [e for e in page.service.repo.list_events(page.meeting_id) if e.kind == "answered_by_link"]
    assert len(answers) == 1


async def test_citations_on_the_page_name_their_document_not_its_file(page):
    _, html = await page.get(page.link())
    text = words(html)
    assert re.search(r"\b[0-9a-f]{3}_[0-9a-f]{16}\.txt\b", text) is None, "a citation shows a file name"
    assert re.search(r"[A-Za-z][^()]* §4\.2", text)  # the guidance's title, then its section


async def test_with_the_database_unreachable_the_page_says_try_again_and_nothing_is_lost(page, monkeypatch, caplog):
    from sqlalchemy.exc import OperationalError

    from bot.outage import BUSY_TEXT

    link = page.link()
    _, html = await page.get(link)
    nonce = form_nonce(html)

    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(page.service.repo, "snapshot", down)
    monkeypatch.setattr(page.service.repo, "transaction", down)
    r, html = await page.post(link, {"choice": "accept", "form_nonce": nonce})
    assert r.status == 503 and r.headers["Retry-After"] == "60" and BUSY_TEXT in unescape(html)
    assert "Traceback" not in caplog.text
    monkeypatch.undo()
    assert page.invitation_row().response == "none"
    r, html = await page.post(link, {"choice": "accept", "form_nonce": nonce})  # the same link, once it is back
    assert r.status == 200 and page.invitation_row().response == "accepted"
