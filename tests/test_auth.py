"""Bot Framework authentication of POST /api/messages, with the token protocol emulated
rather than our code mocked.

Teams (the channel) signs every activity it sends to the bot with a JWT: issuer
`https://api.botframework.com`, audience the bot's app id, a `serviceurl` claim equal to the
activity's serviceUrl, signed by a key published in the JWKS named by the Bot Framework's
OpenID metadata document, a key whose `endorsements` must list the channel ("msteams").
Here a local OpenID metadata + JWKS server stands in for login.botframework.com, with keys
generated for the test, and botbuilder's own validation code checks the tokens.

How botbuilder is pointed at it: with only MicrosoftAppId/Password/TenantId/Type set (our
`Settings.botframework_config()`), ConfigurationBotFrameworkAuthentication builds the
public-cloud authentication, whose ChannelValidation takes its metadata URL from the class
attribute `ChannelValidation.open_id_metadata_endpoint` (botbuilder's own override, the one
BotFrameworkAdapter sets from `BotOpenIdMetadata`) and otherwise from
`AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL`. The test sets that
attribute, so the production code path (and its built-in issuer and audience checks) runs
unchanged; no setting is needed for it.

Two things about botbuilder 4.17.1 shape the test:
* it fetches the metadata and the keys with *synchronous* `requests.get` (no timeout) from
  inside the event loop, so the metadata server runs on its own loop in its own thread (on
  the test's loop it could never answer);
* it caches the keys per metadata URL in a class-level dict (`JwtTokenExtractor.metadataCache`)
  for a day, so each test gets an empty cache.

Out of scope: Microsoft Entra ID. With an app id the bot's *outgoing* calls (its replies, and
the delivery worker's cards) need a token from login.microsoftonline.com, which cannot be
reached here, so that acquisition alone is stubbed (`OUTGOING_TOKEN`); the connector emulator
insists on it, proving the replies go out authenticated.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from botframework.connector.auth import MicrosoftAppCredentials
from botframework.connector.auth.channel_validation import ChannelValidation
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from bot.adapters.connector import MsalBotToken
from bot.app import create_app
from bot.keys import SERVICE
from bot.settings import Settings
from tests.emulators import teams
from tests.emulators.connector import install_as_directories_say, running_emulator
from tests.emulators.teams import Person

APP_ID = "7f3c2a1e-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
OTHER_APP_ID = "0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"
ISSUER = "https://api.botframework.com"  # AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
TENANT = "11111111-1111-4111-8111-111111111111"
CHAIR_AAD = "22222222-2222-4222-8222-222222222222"
OUTGOING_TOKEN = "stub-entra-token-for-outgoing-calls"
TEAMS_KID = "teams-signing-key"
WEBCHAT_KID = "webchat-only-key"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# Generated once: RSA key generation is the slow part.
TEAMS_KEY, WEBCHAT_KEY, ROGUE_KEY = _key(), _key(), _key()


def _jwk(private_key: rsa.RSAPrivateKey, kid: str, endorsements: list[str]) -> dict:
    jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "endorsements": endorsements}


# --- the Bot Framework's token service, emulated -------------------------------------------


@dataclass
class OpenIdServer:
    """login.botframework.com's two documents, served on 127.0.0.1 from a thread."""

    keys: list[dict]
    url: str = ""                       # the OpenID metadata URL
    fetches: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        async def metadata(request: web.Request) -> web.Response:
            self.fetches.append("metadata")
            base = f"{request.scheme}://{request.host}"
            # The shape of https://login.botframework.com/v1/.well-known/openidconfiguration
            return web.json_response({
                "issuer": ISSUER,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": f"{base}/v1/.well-known/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            })

        async def keys(request: web.Request) -> web.Response:
            self.fetches.append("keys")
            return web.json_response({"keys": self.keys})

        app = web.Application()
        app.router.add_get("/v1/.well-known/openidconfiguration", metadata)
        app.router.add_get("/v1/.well-known/keys", keys)
        return app


@contextlib.contextmanager
def running_openid_server(keys: list[dict]) -> Iterator[OpenIdServer]:
    """Serve from a thread with its own event loop: botbuilder fetches with blocking I/O."""
    server = OpenIdServer(keys)
    ready, failed = threading.Event(), []
    loop_and_stop: list = []

    async def serve() -> None:
        runner = web.AppRunner(server.app(), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            host, port = runner.addresses[0][:2]
            server.url = f"http://{host}:{port}/v1/.well-known/openidconfiguration"
            stop = asyncio.Event()
            loop_and_stop.extend([asyncio.get_running_loop(), stop])
            ready.set()
            await stop.wait()
        finally:
            await runner.cleanup()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as e:  # surfaced to the test below
            failed.append(e)
            ready.set()

    thread = threading.Thread(target=run, name="openid-server", daemon=True)
    thread.start()
    assert ready.wait(10) and not failed, failed
    try:
        yield server
    finally:
        loop, stop = loop_and_stop
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def channel_token(service_url: str, *, key: rsa.RSAPrivateKey = TEAMS_KEY, kid: str | None = TEAMS_KID,
                  audience: str = APP_ID, issuer: str = ISSUER, expires_in: float = 3600,
                  not_before: float = -300, algorithm: str = "RS256", omit: tuple[str, ...] = (),
                  **extra_claims) -> str:
    """A token as the Bot Framework channel service issues it for Teams' activities (less
    the claims named in `omit`)."""
    now = int(time.time())
    claims = {"serviceurl": service_url, "nbf": now + int(not_before), "exp": now + int(expires_in),
              "iss": issuer, "aud": audience, **extra_claims}
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode({k: v for k, v in claims.items() if k not in omit}, key, algorithm=algorithm, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made_token(alg: str, service_url: str, secret: bytes = b"") -> str:
    """A token PyJWT refuses to make: `alg: none`, or HS256 keyed with the public key."""
    now = int(time.time())
    header = _b64(json.dumps({"alg": alg, "typ": "JWT", "kid": TEAMS_KID}).encode())
    payload = _b64(json.dumps({"serviceurl": service_url, "nbf": now - 300, "exp": now + 3600,
                               "iss": ISSUER, "aud": APP_ID}).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = _b64(hmac.new(secret, signing_input, hashlib.sha256).digest()) if alg == "HS256" else ""
    return f"{header}.{payload}.{signature}"


# --- the bot, behind auth -------------------------------------------------------------------


CHAIR = Person(CHAIR_AAD, "29:chair", "Sam Chair", "a:chair")


def activity(service_url: str, **fields) -> dict:
    return teams.activity(service_url, CHAIR, tenant=TENANT, bot_id=f"28:{APP_ID}", **fields)


@dataclass
class Bot:
    client: TestClient
    app: web.Application
    emulator: object
    openid: OpenIdServer

    async def post(self, body: dict, token: str | None = None, *, header: str | None = None):
        headers = {}
        if header is not None:
            headers["Authorization"] = header
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return await self.client.post("/api/messages", json=body, headers=headers)

    async def say(self, text: str, token: str | None = None, **kwargs):
        return await self.post(activity(self.emulator.url, type="message", text=text), token, **kwargs)

    async def press(self, verb: str, data: dict, token: str | None = None, **kwargs):
        return await self.post(teams.card_action(self.emulator.url, CHAIR, verb, data, tenant=TENANT,
                                                 bot_id=f"28:{APP_ID}"), token, **kwargs)

    def chair_known(self) -> bool:
        return self.app[SERVICE].repo.get_user(CHAIR_AAD) is not None

    def cards_sent(self) -> list[dict]:
        return [a["content"] for r in self.emulator.requests if r.method == "POST" and isinstance(r.body, dict)
                for a in r.body.get("attachments") or []]


@pytest.fixture
def outgoing_entra_stub(monkeypatch):
    """Entra ID is out of scope: the bot's outgoing token (botbuilder's MSAL call for replies,
    ours for proactive delivery) is a fixed string. Incoming validation is not touched."""
    monkeypatch.setattr(MicrosoftAppCredentials, "get_access_token", lambda self, force_refresh=False: OUTGOING_TOKEN)

    async def token(self) -> str:
        return OUTGOING_TOKEN

    monkeypatch.setattr(MsalBotToken, "token", token)


@contextlib.asynccontextmanager
async def running_bot(settings: Settings, monkeypatch, keys: list[dict] | None = None):
    keys = keys if keys is not None else [_jwk(TEAMS_KEY, TEAMS_KID, ["msteams", "skype", "webchat"]),
                                          _jwk(WEBCHAT_KEY, WEBCHAT_KID, ["webchat", "directline"])]
    with running_openid_server(keys) as openid:
        monkeypatch.setattr(ChannelValidation, "open_id_metadata_endpoint", openid.url)
        monkeypatch.setattr(JwtTokenExtractor, "metadataCache", {})
        async with running_emulator() as emulator:
            install_as_directories_say(emulator)  # the app, where the directory says it is installed
            emulator.add_conversation("a:chair", "29:chair")
            app = create_app(settings)
            async with TestClient(TestServer(app)) as client:
                yield Bot(client, app, emulator, openid)


@pytest.fixture
async def secured(tmp_path, monkeypatch, outgoing_entra_stub):
    settings = replace(Settings(), database_url=f"sqlite:///{tmp_path / 'auth.sqlite3'}", app_id=APP_ID,
                       app_password="not-a-real-secret", app_tenant_id=TENANT, app_type="MultiTenant",
                       delivery_poll_seconds=0.2)
    async with running_bot(settings, monkeypatch) as bot:
        bot.emulator.require_token(OUTGOING_TOKEN)
        yield bot


@pytest.fixture
async def open_bot(tmp_path, monkeypatch):
    settings = replace(Settings(), database_url=f"sqlite:///{tmp_path / 'open.sqlite3'}", delivery_poll_seconds=0.2)
    async with running_bot(settings, monkeypatch) as bot:
        yield bot


FORM = {
    "area": "bristol", "case_ref": "BR-2026-0042", "child1_age": "7", "child1_education": "school",
    "concerns": "physical_abuse", "flags": "serious_harm", "referrer": "education",
    "decided_date": "2026-11-25", "decided_time": "10:00",
}


async def assert_refused(bot: Bot, response) -> None:
    """401, and the bot did nothing: no reply, nothing stored."""
    assert response.status == 401, (response.status, await response.text())
    assert response.headers.get("WWW-Authenticate") == "Bearer"
    await asyncio.sleep(0.05)  # anything the turn might have started would show by now
    assert bot.emulator.requests == []
    assert not bot.chair_known()


# --- with an app id: every request must carry a valid channel token -------------------------


async def test_a_correctly_signed_teams_token_is_accepted_and_the_bot_replies(secured):
    bot = secured
    r = await bot.say("new", channel_token(bot.emulator.url))
    assert r.status == 201, await r.text()
    (reply,) = bot.emulator.requests
    assert reply.status == 201 and reply.authorization == f"Bearer {OUTGOING_TOKEN}"
    assert "request_submit" in json.dumps(bot.cards_sent())  # the request form
    assert bot.chair_known()
    # An invoke (a card button) goes through the same check and gets its card back.
    r = await bot.press("request_submit", FORM, channel_token(bot.emulator.url))
    assert r.status == 200, await r.text()
    assert "plan_send" in json.dumps(await r.json())
    # The keys were fetched once, then served from botbuilder's cache.
    assert bot.openid.fetches == ["metadata", "keys"]


async def test_no_authorization_header_is_401_and_nothing_is_processed(secured):
    await assert_refused(secured, await secured.say("new"))
    await assert_refused(secured, await secured.press("request_submit", FORM))
    assert secured.openid.fetches == []  # refused before any key was needed


def _public_key_secret() -> bytes:
    return json.dumps(_jwk(TEAMS_KEY, TEAMS_KID, ["msteams"])).encode()


# Every way a token can be wrong that the outside token forger of issue 13 tried, and a few
# more: each is refused with 401 before the body is read, and nothing is done or stored.
# A value is the whole Authorization header (None: no header), made from the service URL.
FORGED: dict[str, Callable[[str], str | None]] = {
    "no header": lambda url: None,
    "empty header": lambda url: "",
    "scheme only": lambda url: "Bearer",
    "scheme and a space": lambda url: "Bearer ",
    "basic credentials": lambda url: "Basic dXNlcjpwYXNz",
    "no scheme": lambda url: "not-a-jwt",
    "not a jwt": lambda url: "Bearer not-a-jwt",
    "three junk segments": lambda url: "Bearer a.b.c",
    "two spaces": lambda url: "Bearer  two  spaces",
    "the published key id, another key": lambda url: f"Bearer {channel_token(url, key=ROGUE_KEY)}",
    "an unknown key id": lambda url: f"Bearer {channel_token(url, key=ROGUE_KEY, kid='rogue-key')}",
    "no key id": lambda url: f"Bearer {channel_token(url, kid=None)}",
    "alg none": lambda url: f"Bearer {hand_made_token('none', url)}",
    "HS256 keyed with the public key": lambda url: f"Bearer {hand_made_token('HS256', url, _public_key_secret())}",
    "RS384 (not what the channel signs with)": lambda url: f"Bearer {channel_token(url, algorithm='RS384')}",
    "a key endorsed for Web Chat only": lambda url: f"Bearer {channel_token(url, key=WEBCHAT_KEY, kid=WEBCHAT_KID)}",
    "a Teams key id, signed with the Web Chat key": lambda url: f"Bearer {channel_token(url, key=WEBCHAT_KEY)}",
    # botbuilder allows 5 minutes of clock skew (VerifyOptions.clock_tolerance): these are beyond it.
    "expired 6 minutes ago": lambda url: f"Bearer {channel_token(url, expires_in=-6 * 60, not_before=-3600)}",
    "valid only in 6 minutes": lambda url: f"Bearer {channel_token(url, not_before=6 * 60)}",
    "no exp": lambda url: f"Bearer {channel_token(url, omit=('exp',))}",
    "no nbf": lambda url: f"Bearer {channel_token(url, omit=('nbf',))}",
    "exp as text": lambda url: f"Bearer {channel_token(url, exp='never')}",
    "for another bot": lambda url: f"Bearer {channel_token(url, audience=OTHER_APP_ID)}",
    "for no bot": lambda url: f"Bearer {channel_token(url, audience='')}",
    "from another issuer": lambda url: f"Bearer {channel_token(url, issuer='https://evil.example.com')}",
    # A genuine token replayed with another serviceUrl would send the bot's replies, with its
    # credentials, elsewhere: the serviceurl claim must match the activity.
    "for another service URL": lambda url: f"Bearer {channel_token('https://smba.trafficmanager.net/emea/')}",
    "no service URL claim": lambda url: f"Bearer {channel_token(url, omit=('serviceurl',))}",
    "a valid token with a tail": lambda url: f"Bearer {channel_token(url)}.x",
    "a 27 KB header": lambda url: f"Bearer {channel_token(url)}{'A' * 27_000}",
}


@pytest.mark.parametrize("forge", FORGED.values(), ids=FORGED.keys())
async def test_a_forged_or_malformed_token_is_401_and_nothing_happens(secured, forge, caplog):
    await assert_refused(secured, await secured.say("new", header=forge(secured.emulator.url)))
    await assert_refused(secured, await secured.press("request_submit", FORM, header=forge(secured.emulator.url)))
    assert not [r for r in caplog.records if r.exc_info], "a refused token must not log a traceback"


async def test_no_authorization_header_is_refused_before_any_key_is_fetched(secured):
    await assert_refused(secured, await secured.say("new"))
    assert secured.openid.fetches == []


async def test_clock_skew_of_under_five_minutes_is_tolerated(secured):
    # Documents botbuilder's leeway: a token that expired 2 minutes ago still passes.
    r = await secured.say("new", channel_token(secured.emulator.url, expires_in=-2 * 60, not_before=-3600))
    assert r.status == 201, await r.text()


async def test_refused_tokens_do_not_make_the_bot_refetch_keys(secured):
    bot = secured
    assert (await bot.say("new", channel_token(bot.emulator.url))).status == 201
    for _ in range(3):
        assert (await bot.say("new", channel_token(bot.emulator.url, key=ROGUE_KEY, kid="rogue-key"))).status == 401
    # botbuilder refetches on an unknown key id at most once an hour.
    assert bot.openid.fetches == ["metadata", "keys"]


# --- without an app id: auth is off ---------------------------------------------------------


async def test_without_an_app_id_a_request_without_a_token_is_processed(open_bot):
    bot = open_bot
    r = await bot.say("new")
    assert r.status == 201, await r.text()
    (reply,) = bot.emulator.requests
    assert reply.status == 201 and reply.authorization is None  # nothing to sign replies with
    assert "request_submit" in json.dumps(bot.cards_sent())
    assert bot.chair_known()
    r = await bot.press("request_submit", FORM)
    assert r.status == 200 and "plan_send" in json.dumps(await r.json())
    assert bot.openid.fetches == []  # no key was ever needed


async def test_an_activity_with_a_mistyped_field_is_400_naming_it_after_the_token_is_checked(secured):
    url = secured.emulator.url
    body = activity(url, type="message", text="new", conversation="a:chair")
    r = await secured.post(body, channel_token(url))
    assert r.status == 400 and (await r.json())["error"] == "conversation: expected an object"
    assert secured.emulator.requests == [] and not secured.chair_known()
    # Without a token the same body is refused before it is read.
    await assert_refused(secured, await secured.post(body))
