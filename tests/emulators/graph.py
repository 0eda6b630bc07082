"""A local Microsoft Entra + Microsoft Graph emulator over TLS on 127.0.0.1, for tests.

Why: the Graph adapter (bot/adapters/graph/) must be exercised through the real MSAL and a
real HTTPS client, with tokens that really expire, throttling that really says Retry-After,
and Graph's idempotent event creation, without a tenant. MSAL only talks to an https
authority, so the emulator serves TLS with a certificate made at start: a throwaway CA
(`ca_path`, give it as STRATBOT_GRAPH_CA_BUNDLE) and a server certificate for 127.0.0.1 and
localhost signed by it.

Entra (the authority is `url`, i.e. https://127.0.0.1:PORT/<tenant>):

    GET  /{tenant}/v2.0/.well-known/openid-configuration   MSAL's tenant discovery
    GET  /common/discovery/instance                         instance discovery (if asked)
    POST /{tenant}/oauth2/v2.0/token                        client_credentials with a
         client_secret (form or Basic) or a client_assertion: a JWT signed with a trusted
         certificate's key (RS256 with `x5t`, or PS256 with `x5t#S256`), checked for its
         signature, thumbprint, audience (the token endpoint), issuer/subject (the client id)
         and expiry. Errors look like Entra's (AADSTS7000215 for a wrong secret, ...).

Issued access tokens are real JWTs (HS256, the emulator's own key) with `exp`, `aud` (the
Graph origin), `tid`, `appid` and `roles`; Graph checks them on every call against the
emulator's clock: an expired one gets 401 InvalidAuthenticationToken.

Graph (`graph_url` = https://127.0.0.1:PORT/v1.0):

    POST  /v1.0/users/{id}/events                      create (transactionId deduplicated per
                                                       mailbox, like Graph: same id, same event)
    GET   /v1.0/users/{id}/events/{eventId}            ($select honoured)
    PATCH /v1.0/users/{id}/events/{eventId}            subject, body, start, end, attendees...
    POST  /v1.0/users/{id}/events/{eventId}/cancel     202; the event leaves the calendar (404 after)
    POST  /v1.0/users/{id}/calendar/getSchedule        scheduleItems + availabilityView
    GET   /v1.0/users?$filter=mail eq '...'            the tenant's users (User.Read.All); the
                                                       filters `mail eq` and `userPrincipalName eq`
                                                       (case-insensitive, quotes doubled), $select
    GET   /v1.0/users/{id | userPrincipalName}         one user; 404 Request_ResourceNotFound

Teams app installation for a user (Microsoft's "Send proactive installation messages"; it
shares its state with the connector emulator given as `teams=`, so installing through Graph is
what lets the bot open the 1:1 chat there):

    GET   /v1.0/appCatalogs/teamsApps?$filter=externalId eq '{manifest id}'   the catalog id
    POST  /v1.0/users/{id}/teamwork/installedApps    {"teamsApp@odata.bind": ".../appCatalogs/
          teamsApps/{catalog id}"}: 201; already installed 409 Conflict; a user of another
          tenant 403 Forbidden; an unknown user 404; an app not in the catalog 404
    GET   /v1.0/users/{id}/teamwork/installedApps?$expand=teamsApp&$filter=teamsApp/externalId
          eq '{manifest id}' (or teamsAppDefinition/teamsAppId eq '{catalog id}')
    GET   /v1.0/users/{id}/teamwork/installedApps/{installationId}/chat   {"id": chat id}

Install and list need TeamsAppInstallation.ReadWriteSelfForUser.All, the catalog
AppCatalog.Read.All. People are known to it as mailboxes (this tenant) or `add_teams_user`.

Readings of Graph's behaviour the emulator makes (for the adapter, they are assumptions):
moving an event resets the attendees' answers to "none" (Outlook asks them again); replacing
the attendee list keeps the answers of those still on it; an unknown user is 404
ErrorInvalidUser, a user without an Exchange mailbox 404 MailboxNotEnabledForRESTAPI, an unknown
event 404 ErrorItemNotFound, a mailbox fenced off by an application access policy 403
ErrorAccessDenied; reading users without User.Read.All (or Directory.Read.All) is 403
Authorization_RequestDenied, a filter it does not know 400 Request_UnsupportedQuery; getSchedule reports addresses it cannot see as entries with an `error`
(ErrorMailboxNotFound inside the tenant's domains, ErrorProxyRequestNotAllowed outside).
In a mailbox's free/busy, its own events are busy, and an invitation is tentative until
accepted (busy) or declined (gone).

In a test:

    async with running_graph_emulator() as emu:
        emu.add_mailbox("chair@example.gov.uk")
        emu.add_busy("police@example.gov.uk", start, end)          # adds the mailbox if new
        settings = GraphSettings.from_env(emu.env())               # secret credential
        emu.throttle(2, retry_after=3)                             # next two Graph calls: 429
        emu.respond(event_id, "police@example.gov.uk", "accepted")
        emu.advance(3600)                                          # tokens issued so far expire
        assert emu.count("token") == 2
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import ipaddress
import itertools
import json
import re
import secrets
import ssl
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = dt.timezone.utc
DEFAULT_TENANT = "6f1c2a4e-8b1d-4c55-9a43-0d3f2b7e9a10"
DEFAULT_CLIENT = "3d9a7c11-52e4-4f0b-b6a8-7c0e4f1d2b33"
DEFAULT_SECRET = "emulator-secret~value.1234"
DEFAULT_DOMAIN = "example.gov.uk"
READ_WRITE = "Calendars.ReadWrite"
READ = "Calendars.Read"
MAIL_SEND = "Mail.Send"
USER_READ = "User.Read.All"
INSTALL = "TeamsAppInstallation.ReadWriteSelfForUser.All"
CATALOG = "AppCatalog.Read.All"
RESPONSES = ("none", "accepted", "declined", "tentativelyAccepted")
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


# ---------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    ca_path: str      # the CA to trust (PEM)
    cert_path: str    # the server's certificate chain (PEM)
    key_path: str     # the server's key (PEM)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_tls(directory: str | Path) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost signed by it
    (CA:TRUE with keyCertSign; the leaf with SANs and serverAuth, as strict verifiers want)."""
    directory = Path(directory)
    now = dt.datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (x509.CertificateBuilder().subject_name(_name("Graph emulator test CA")).issuer_name(
        _name("Graph emulator test CA")).public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=True, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    files = TlsFiles(str(directory / "ca.pem"), str(directory / "server.pem"), str(directory / "server.key"))
    Path(files.ca_path).write_bytes(ca_cert.public_bytes(pem))
    Path(files.cert_path).write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    Path(files.key_path).write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return files


@dataclass(frozen=True)
class ClientCertificate:
    """An app credential certificate: `pem_path` holds the private key and the certificate
    (what STRATBOT_GRAPH_CERT_PATH points at), `thumbprint` is its SHA-1 as Entra shows it."""

    pem_path: str
    thumbprint: str
    certificate_pem: bytes
    key_only_path: str  # the same key without the certificate in the file


def make_client_certificate(directory: str | Path, name: str = "client") -> ClientCertificate:
    directory = Path(directory)
    now = dt.datetime.now(UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(_name("stratbot-graph")).issuer_name(_name("stratbot-graph"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
            .sign(key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    cert_pem = cert.public_bytes(pem)
    both, key_only = directory / f"{name}.pem", directory / f"{name}.key"
    both.write_bytes(key_pem + cert_pem)
    key_only.write_bytes(key_pem)
    return ClientCertificate(str(both), cert.fingerprint(hashes.SHA1()).hex().upper(), cert_pem, str(key_only))


def _b64url_nopad(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# ---------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------


@dataclass
class Mailbox:
    email: str
    object_id: str
    name: str
    exchange: bool = True     # False: a user without an Exchange Online mailbox
    teams: bool = True        # False: no Teams licence, so no join link
    phone: str | None = None  # mobilePhone
    job_title: str | None = None
    upn: str | None = None    # userPrincipalName when it differs from the mail address
    denied: bool = False      # fenced off by an application access policy (403)
    busy: list[tuple[dt.datetime, dt.datetime, str, str]] = field(default_factory=list)  # start, end, status, subject


@dataclass
class EmulatedAttendee:
    address: str
    name: str | None
    type: str
    response: str = "none"
    time: dt.datetime | None = None


@dataclass
class EmulatedEvent:
    id: str
    organiser: Mailbox
    subject: str
    body: dict[str, Any]
    start: dt.datetime
    end: dt.datetime
    attendees: list[EmulatedAttendee]
    is_online: bool
    provider: str | None
    join_url: str | None
    transaction_id: str | None
    allow_new_time_proposals: bool
    sensitivity: str
    change_key: str
    ical_uid: str
    created: dt.datetime
    modified: dt.datetime
    cancelled: bool = False
    cancel_comment: str | None = None

    def attendee(self, email: str) -> EmulatedAttendee | None:
        return next((a for a in self.attendees if a.address.lower() == email.lower()), None)


@dataclass
class RecordedRequest:
    kind: str                 # "token", "discovery" or "graph"
    method: str
    path: str
    body: Any
    status: int = 0
    prefer: str | None = None
    has_token: bool = False


@dataclass
class _Rule:
    status: int
    remaining: int
    retry_after: str | None
    code: str
    after_commit: bool = False


def _graph_time(t: dt.datetime, zone: dt.tzinfo = UTC) -> dict[str, str]:
    local = t.astimezone(zone)
    name = "UTC" if zone is UTC else str(zone)
    return {"dateTime": f"{local:%Y-%m-%dT%H:%M:%S.%f}0", "timeZone": name}


def _instant(t: dt.datetime | None) -> str:
    if t is None:
        return "0001-01-01T00:00:00Z"
    return f"{t.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}0Z"


def _read_graph_time(value: Any) -> dt.datetime:
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str) \
            or not isinstance(value.get("timeZone"), str):
        raise ValueError("a dateTimeTimeZone needs dateTime and timeZone")
    text = value["dateTime"]
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?", text)
    if not m:
        raise ValueError(f"bad dateTime {text!r}")
    wall = dt.datetime.fromisoformat(m.group(1)).replace(microsecond=int((m.group(2) or "0")[:6].ljust(6, "0")))
    zone_name = value["timeZone"]
    zone: dt.tzinfo = UTC if zone_name == "UTC" else ZoneInfo(zone_name)
    return wall.replace(tzinfo=zone).astimezone(UTC)


class _Problem(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def _graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message,
                      "innerError": {"date": dt.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                                     "request-id": str(uuid.uuid4()), "client-request-id": str(uuid.uuid4())}}}
    return web.json_response(body, status=status, headers=headers)


def _entra_error(status: int, error: str, aadsts: str, text: str) -> web.Response:
    trace = uuid.uuid4()
    description = (f"{aadsts}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {uuid.uuid4()}\r\n"
                   f"Timestamp: {dt.datetime.now(UTC):%Y-%m-%d %H:%M:%SZ}")
    return web.json_response({"error": error, "error_description": description,
                              "error_codes": [int(aadsts.removeprefix("AADSTS"))],
                              "trace_id": str(trace)}, status=status)


# ---------------------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------------------


@dataclass
class SentMail:
    sender: str
    to: tuple[str, ...]
    subject: str
    body_html: str


class GraphEmulator:
    """State and controls; `app` serves it. Start it with `running_graph_emulator()`."""

    def __init__(self, *, tenant_id: str = DEFAULT_TENANT, client_id: str = DEFAULT_CLIENT,
                 client_secret: str | None = DEFAULT_SECRET, domains: Iterable[str] = (DEFAULT_DOMAIN,),
                 token_lifetime: int = 3600, roles: Iterable[str] = (READ_WRITE, USER_READ),
                 teams: Any = None) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.domains = {d.lower() for d in domains}
        self.token_lifetime = token_lifetime   # seconds, for tokens issued from now on
        self.roles = set(roles)                # application permissions granted to the app
        self.url = ""                          # https://127.0.0.1:PORT once started
        self.ca_path = ""
        self.mailboxes: dict[str, Mailbox] = {}
        self.events: dict[str, EmulatedEvent] = {}
        self.mails: list[SentMail] = []        # sent with /sendMail, oldest first
        self.requests: list[RecordedRequest] = []
        self.issued_tokens: list[dict[str, Any]] = []   # the claims of every token issued
        self._certificates: dict[str, x509.Certificate] = {}   # x5t (SHA-1, b64url) -> cert
        self._certificates_256: dict[str, x509.Certificate] = {}
        self._rules: list[_Rule] = []
        self._token_rules: list[_Rule] = []
        self._offset = 0.0
        self._signing_key = secrets.token_bytes(32)
        self._seq = itertools.count(1)
        self.teams = teams                     # the ConnectorEmulator whose install state is shared
        self.catalog: dict[str, str] = {}      # manifest id (externalId) -> catalog id
        self.teams_users: dict[str, str] = {}  # object id -> tenant id (besides the mailboxes)
        self.installations: dict[str, tuple[str, str]] = {}  # installation id -> (user object id, catalog id)
        self.app = web.Application()
        r = self.app.router
        r.add_get("/common/discovery/instance", self._instance_discovery)
        r.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._openid_configuration)
        r.add_get("/{tenant}/discovery/v2.0/keys", self._keys)
        r.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        r.add_post("/v1.0/users/{user}/events", self._create)
        r.add_get("/v1.0/users/{user}/events/{event}", self._get)
        r.add_patch("/v1.0/users/{user}/events/{event}", self._patch)
        r.add_post("/v1.0/users/{user}/events/{event}/cancel", self._cancel)
        r.add_post("/v1.0/users/{user}/calendar/getSchedule", self._schedule)
        r.add_post("/v1.0/users/{user}/sendMail", self._send_mail)
        r.add_get("/v1.0/users", self._users)
        r.add_get("/v1.0/users/{user}", self._user)
        r.add_get("/v1.0/appCatalogs/teamsApps", self._catalog_list)
        r.add_post("/v1.0/users/{user}/teamwork/installedApps", self._install)
        r.add_get("/v1.0/users/{user}/teamwork/installedApps", self._installed)
        r.add_get("/v1.0/users/{user}/teamwork/installedApps/{installation}/chat", self._installation_chat)

    # -- where it is -------------------------------------------------------------------

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"

    @property
    def token_endpoint(self) -> str:
        return f"{self.url}/{self.tenant_id}/oauth2/v2.0/token"

    def env(self, *, certificate: ClientCertificate | None = None, organiser: str | None = None,
            **overrides: str) -> dict[str, str]:
        """STRATBOT_GRAPH_* for this emulator: the secret credential, or `certificate` (which
        is then trusted). `overrides` use the variable's suffix, e.g. CLIENT_SECRET="wrong"."""
        env = {"STRATBOT_GRAPH_TENANT_ID": self.tenant_id, "STRATBOT_GRAPH_CLIENT_ID": self.client_id,
               "STRATBOT_GRAPH_AUTHORITY_HOST": self.url, "STRATBOT_GRAPH_BASE_URL": self.graph_url,
               "STRATBOT_GRAPH_CA_BUNDLE": self.ca_path}
        if certificate is not None:
            self.trust_certificate(certificate.certificate_pem)
            env["STRATBOT_GRAPH_CERT_PATH"] = certificate.pem_path
            env["STRATBOT_GRAPH_CERT_THUMBPRINT"] = certificate.thumbprint
        elif self.client_secret is not None:
            env["STRATBOT_GRAPH_CLIENT_SECRET"] = self.client_secret
        if organiser:
            env["STRATBOT_GRAPH_ORGANISER"] = organiser
        for key, value in overrides.items():
            env[f"STRATBOT_GRAPH_{key}"] = value
        return {k: v for k, v in env.items() if v}

    # -- state for tests ---------------------------------------------------------------

    def trust_certificate(self, certificate_pem: bytes) -> None:
        """Register a certificate as one of the app's credentials (as uploaded to Entra)."""
        cert = x509.load_pem_x509_certificate(certificate_pem)
        self._certificates[_b64url_nopad(cert.fingerprint(hashes.SHA1()))] = cert
        self._certificates_256[_b64url_nopad(cert.fingerprint(hashes.SHA256()))] = cert

    def add_mailbox(self, email: str, *, name: str | None = None, object_id: str | None = None,
                    exchange: bool = True, teams: bool = True, phone: str | None = None,
                    job_title: str | None = None, upn: str | None = None) -> Mailbox:
        """A user of the tenant (with an Exchange mailbox unless `exchange` is False)."""
        key = email.lower()
        if key not in self.mailboxes:
            self.mailboxes[key] = Mailbox(email, object_id or str(uuid.uuid4()), name or email.split("@")[0],
                                          exchange=exchange, teams=teams, phone=phone, job_title=job_title, upn=upn)
        return self.mailboxes[key]

    def add_busy(self, email: str, start: dt.datetime, end: dt.datetime, status: str = "busy",
                 subject: str = "Busy") -> None:
        """A block in `email`'s calendar (status: busy, oof, tentative, workingElsewhere, free)."""
        self.add_mailbox(email).busy.append((start.astimezone(UTC), end.astimezone(UTC), status, subject))

    def publish_app(self, external_id: str) -> str:
        """Put the app (its manifest id) in the organisation's catalog; returns its catalog id."""
        return self.catalog.setdefault(external_id, str(uuid.uuid4()))

    def add_teams_user(self, object_id: str, tenant_id: str | None = None) -> None:
        """Someone Graph can see for app installation: of this tenant by default; of another
        tenant, Graph refuses to install for them (403)."""
        self.teams_users[object_id.lower()] = (tenant_id or self.tenant_id).lower()

    def deny(self, email: str) -> None:
        """Fence a mailbox off (application access policy): 403 ErrorAccessDenied."""
        self.add_mailbox(email).denied = True

    def respond(self, event_id: str, email: str, response: str, at: dt.datetime | None = None) -> None:
        """Record an attendee's answer as if they pressed Accept/Decline/Tentative in Outlook."""
        if response not in RESPONSES:
            raise ValueError(f"response must be one of {RESPONSES}")
        event = self.events[event_id]
        attendee = event.attendee(email)
        if attendee is None:
            raise KeyError(f"{email} is not invited to {event_id}")
        attendee.response = response
        attendee.time = None if response == "none" else (at or self.now())
        event.change_key = _change_key()

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(time.time() + self._offset, UTC)

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass at the emulator: tokens it issued age (and may expire) although
        the client's clock, and MSAL's cache, did not move."""
        self._offset += seconds

    def events_of(self, email: str) -> list[EmulatedEvent]:
        return [e for e in self.events.values() if e.organiser.email.lower() == email.lower()]

    # -- scripted failures -------------------------------------------------------------

    def throttle(self, n: int = 1, retry_after: float | str | None = 1) -> None:
        """The next `n` Graph calls get 429 (with `Retry-After: retry_after`; None: no header)."""
        self.fail(n, 429, retry_after=retry_after, code="TooManyRequests")

    def fail(self, n: int = 1, status: int = 503, *, retry_after: float | str | None = None,
             code: str | None = None) -> None:
        """The next `n` Graph calls get `status`, without doing anything."""
        self._rules.append(_Rule(status, n, None if retry_after is None else _header(retry_after),
                                 code or {429: "TooManyRequests", 503: "ServiceNotAvailable",
                                          504: "GatewayTimeout"}.get(status, "UnknownError")))

    def lose_answers(self, n: int = 1, status: int = 504) -> None:
        """The next `n` Graph calls are carried out, but answered with `status` (the answer
        is lost on the way back, as with a gateway timeout)."""
        self._rules.append(_Rule(status, n, None, "GatewayTimeout", after_commit=True))

    def fail_tokens(self, n: int = 1, status: int = 503) -> None:
        """The next `n` token requests get `status`."""
        self._token_rules.append(_Rule(status, n, None, "temporarily_unavailable"))

    def count(self, kind: str | None = None, *, method: str | None = None, path_contains: str = "") -> int:
        return sum(1 for r in self.requests if (kind is None or r.kind == kind)
                   and (method is None or r.method == method) and path_contains in r.path)

    # -- Entra ---------------------------------------------------------------------------

    def _record(self, kind: str, request: web.Request, body: Any) -> RecordedRequest:
        rec = RecordedRequest(kind, request.method, request.raw_path, body, prefer=request.headers.get("Prefer"),
                              has_token=bool(request.headers.get("Authorization")))
        self.requests.append(rec)
        return rec

    def _tenant_ok(self, tenant: str) -> bool:
        return tenant.lower() == self.tenant_id.lower() or tenant.lower() in self.domains

    def _openid(self, tenant: str) -> dict[str, Any]:
        base = f"{self.url}/{tenant}"
        return {"token_endpoint": f"{self.url}/{self.tenant_id}/oauth2/v2.0/token",
                "authorization_endpoint": f"{self.url}/{self.tenant_id}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{self.url}/{self.tenant_id}/oauth2/v2.0/devicecode",
                "jwks_uri": f"{base}/discovery/v2.0/keys", "issuer": f"{self.url}/{self.tenant_id}/v2.0",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                          "client_secret_basic"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "tenant_region_scope": "EU"}

    async def _openid_configuration(self, request: web.Request) -> web.Response:
        rec = self._record("discovery", request, None)
        tenant = request.match_info["tenant"]
        if not self._tenant_ok(tenant):
            resp = _entra_error(400, "invalid_tenant", "AADSTS90002", f"Tenant '{tenant}' not found. Check to "
                                "make sure you have the correct tenant ID and are signing into the correct cloud.")
        else:
            resp = web.json_response(self._openid(tenant))
        rec.status = resp.status
        return resp

    async def _instance_discovery(self, request: web.Request) -> web.Response:
        rec = self._record("discovery", request, dict(request.query))
        endpoint = urlsplit(request.query.get("authorization_endpoint", ""))
        tenant = endpoint.path.strip("/").split("/")[0] or "common"
        host = urlsplit(self.url).netloc
        rec.status = 200
        return web.json_response({
            "tenant_discovery_endpoint": f"{self.url}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}]})

    async def _keys(self, request: web.Request) -> web.Response:
        self._record("discovery", request, None).status = 200
        return web.json_response({"keys": []})

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        rec = self._record("token", request, {k: ("***" if k in ("client_secret", "client_assertion") else v)
                                              for k, v in form.items()})
        resp = self._issue(request, form)
        rec.status = resp.status
        return resp

    def _issue(self, request: web.Request, form: dict[str, Any]) -> web.Response:
        for rule in self._token_rules:
            if rule.remaining > 0:
                rule.remaining -= 1
                return _entra_error(rule.status, rule.code, "AADSTS50001", "The service is temporarily unavailable.")
        tenant = request.match_info["tenant"]
        if not self._tenant_ok(tenant):
            return _entra_error(400, "invalid_request", "AADSTS90002", f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return _entra_error(400, "unsupported_grant_type", "AADSTS70003",
                                "The app requested an unsupported grant type.")
        client_id = str(form.get("client_id") or "")
        secret = form.get("client_secret")
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            with contextlib.suppress(ValueError, binascii.Error):
                user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
                client_id, secret = unquote(user.replace("+", " ")), unquote(password.replace("+", " "))
        if client_id != self.client_id:
            return _entra_error(400, "unauthorized_client", "AADSTS700016",
                                f"Application with identifier '{client_id}' was not found in the directory "
                                f"'{tenant}'.")
        if form.get("client_assertion_type") == _ASSERTION_TYPE:
            problem = self._check_assertion(str(form.get("client_assertion") or ""))
            if problem:
                return _entra_error(401, "invalid_client", *problem)
        elif secret is not None:
            if self.client_secret is None or not secrets.compare_digest(str(secret), self.client_secret):
                return _entra_error(401, "invalid_client", "AADSTS7000215",
                                    "Invalid client secret provided. Ensure the secret being sent in the request "
                                    f"is the client secret value, not the client secret ID, for a secret added "
                                    f"to app '{client_id}'.")
        else:
            return _entra_error(401, "invalid_client", "AADSTS7000218", "The request body must contain the "
                                "following parameter: 'client_assertion' or 'client_secret'.")
        resource = self.url
        scopes = str(form.get("scope") or "").split()
        if f"{resource}/.default" not in scopes:
            return _entra_error(400, "invalid_scope", "AADSTS1002012",
                                f"The provided value for scope {' '.join(scopes)} is not valid. Client credential "
                                "flows must have a scope value with /.default suffixed to the resource identifier "
                                "(application ID URI).")
        now = self.now()
        exp = int(now.timestamp()) + int(self.token_lifetime)
        claims = {"aud": resource, "iss": f"https://sts.windows.net/{self.tenant_id}/", "iat": int(now.timestamp()),
                  "nbf": int(now.timestamp()) - 60, "exp": exp, "appid": self.client_id, "tid": self.tenant_id,
                  "roles": sorted(self.roles), "idtyp": "app", "uti": secrets.token_urlsafe(16), "ver": "1.0",
                  "seq": next(self._seq)}
        self.issued_tokens.append(claims)
        token = jwt.encode(claims, self._signing_key, algorithm="HS256")
        return web.json_response({"token_type": "Bearer", "expires_in": int(self.token_lifetime),
                                  "ext_expires_in": int(self.token_lifetime), "access_token": token})

    def _check_assertion(self, assertion: str) -> tuple[str, str] | None:
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.InvalidTokenError:
            return "AADSTS50027", "JWT token is invalid or malformed."
        alg = header.get("alg")
        if "x5t#S256" in header:
            cert = self._certificates_256.get(str(header["x5t#S256"]).rstrip("="))
        else:
            cert = self._certificates.get(str(header.get("x5t", "")).rstrip("="))
        if cert is None:
            return "AADSTS700027", ("Client assertion contains an invalid signature. [Reason - The key was not "
                                    "found., Thumbprint of key used by client: '" + str(header.get("x5t")) + "']")
        if alg not in ("RS256", "PS256"):
            return "AADSTS5002730", f"Invalid JWT token. Unsupported key for the signing algorithm {alg}."
        try:
            claims = jwt.decode(assertion, cert.public_key(), algorithms=[alg], audience=self.token_endpoint,
                                options={"require": ["exp", "aud", "iss", "sub", "jti"]})
        except jwt.ExpiredSignatureError:
            return "AADSTS700024", "Client assertion is not within its valid time range."
        except jwt.InvalidAudienceError:
            return "AADSTS700212", "No matching federated identity record found for presented assertion audience."
        except jwt.InvalidSignatureError:
            return "AADSTS700027", "Client assertion contains an invalid signature. [Reason - The provided signature " \
                                   "value did not match the expected signature value.]"
        except jwt.InvalidTokenError as exc:
            return "AADSTS50027", f"JWT token is invalid or malformed ({type(exc).__name__})."
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            return "AADSTS700021", "Client assertion application identifier doesn't match 'client_id' parameter."
        return None

    # -- Graph: common checks ------------------------------------------------------------

    async def _graph(self, request: web.Request, handler: Any, needs: set[str]) -> web.Response:
        text = await request.text()
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = text
        rec = self._record("graph", request, body)
        after: _Rule | None = None
        try:
            for rule in self._rules:
                if rule.remaining > 0:
                    rule.remaining -= 1
                    if rule.after_commit:
                        after = rule
                        break
                    headers = {"Retry-After": rule.retry_after} if rule.retry_after is not None else None
                    raise _Problem(rule.status, rule.code, f"emulated {rule.status}", headers)
            self._authenticate(request, needs)
            user = request.match_info["user"]
            mailbox = self._mailbox(user)
            resp = handler(request, mailbox, body)
        except _Problem as p:
            resp = _graph_error(p.status, p.code, p.message, p.headers)
        if after is not None and resp.status < 300:
            resp = _graph_error(after.status, after.code, "emulated lost answer")
        rec.status = resp.status
        return resp

    async def _teamwork(self, request: web.Request, handler: Any, needs: set[str]) -> web.Response:
        """Like `_graph`, for calls about a Teams user or the app catalog (no mailbox needed)."""
        rec = self._record("graph", request, None)
        text = await request.text()
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = text
        rec.body = body
        try:
            self._fail_as_scripted()
            self._authenticate(request, needs)
            resp = handler(request, body)
        except _Problem as p:
            resp = _graph_error(p.status, p.code, p.message, p.headers)
        rec.status = resp.status
        return resp

    def _teams_user(self, user: str) -> str:
        """The object id of a user this tenant's Graph may install for (else 404 or 403)."""
        key = user.lower()
        mailbox = self.mailboxes.get(key) or next((m for m in self.mailboxes.values()
                                                   if m.object_id.lower() == key), None)
        if mailbox is not None:
            return mailbox.object_id.lower()
        tenant = self.teams_users.get(key)
        if tenant is None:
            raise _Problem(404, "NotFound", f"User '{user}' was not found.")
        if tenant != self.tenant_id.lower():
            raise _Problem(403, "Forbidden", "Installing an app for a user in another tenant is not allowed.")
        return key

    def _installation_of(self, user: str) -> str | None:
        return next((i for i, (u, _) in self.installations.items() if u == user), None)

    async def _catalog_list(self, request: web.Request) -> web.Response:
        def do(request: web.Request, body: Any) -> web.Response:
            m = re.fullmatch(r"externalId eq '([^']*)'", request.query.get("$filter", ""))
            if not m:
                raise _Problem(400, "BadRequest", "Unsupported $filter.")
            found = self.catalog.get(m.group(1))
            value = [{"id": found, "externalId": m.group(1), "displayName": "Strategy meetings",
                      "distributionMethod": "organization"}] if found else []
            return web.json_response({"value": value})
        return await self._teamwork(request, do, {CATALOG})

    async def _install(self, request: web.Request) -> web.Response:
        def do(request: web.Request, body: Any) -> web.Response:
            bind = body.get("teamsApp@odata.bind") if isinstance(body, dict) else None
            m = re.fullmatch(r".*/appCatalogs/teamsApps/([^/]+)", bind or "")
            if not m:
                raise _Problem(400, "BadRequest", "teamsApp@odata.bind is required.")
            if m.group(1) not in self.catalog.values():
                raise _Problem(404, "NotFound", "The app was not found in the catalog.")
            user = self._teams_user(request.match_info["user"])
            if self._installation_of(user) is not None:
                raise _Problem(409, "Conflict", "App is already installed.")
            self.installations[f"{secrets.token_urlsafe(16)}"] = (user, m.group(1))
            if self.teams is not None:
                self.teams.install(user)
            return web.Response(status=201)
        return await self._teamwork(request, do, {INSTALL})

    async def _installed(self, request: web.Request) -> web.Response:
        def do(request: web.Request, body: Any) -> web.Response:
            user = self._teams_user(request.match_info["user"])
            wanted = request.query.get("$filter", "")
            external = re.fullmatch(r"teamsApp/externalId eq '([^']*)'", wanted)
            definition = re.fullmatch(r"teamsAppDefinition/teamsAppId eq '([^']*)'", wanted)
            if wanted and not (external or definition):
                raise _Problem(400, "BadRequest", "Unsupported $filter.")
            value = []
            for installation, (owner, catalog_id) in self.installations.items():
                external_id = next((e for e, c in self.catalog.items() if c == catalog_id), "")
                if owner != user or (external and external.group(1) != external_id) \
                        or (definition and definition.group(1) != catalog_id):
                    continue
                value.append({"id": installation, "teamsApp": {"id": catalog_id, "externalId": external_id,
                                                               "distributionMethod": "organization"},
                              "teamsAppDefinition": {"teamsAppId": catalog_id}})
            return web.json_response({"value": value})
        return await self._teamwork(request, do, {INSTALL})

    async def _installation_chat(self, request: web.Request) -> web.Response:
        def do(request: web.Request, body: Any) -> web.Response:
            user = self._teams_user(request.match_info["user"])
            found = self.installations.get(request.match_info["installation"])
            if found is None or found[0] != user:
                raise _Problem(404, "NotFound", "The installation was not found.")
            chat = self.teams.chat_of(user) if self.teams is not None else f"19:{user}_app@unq.gbl.spaces"
            return web.json_response({"id": chat, "chatType": "oneOnOne"})
        return await self._teamwork(request, do, {INSTALL})

    def _authenticate(self, request: web.Request, needs: set[str]) -> None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            raise _Problem(401, "InvalidAuthenticationToken", "Access token is empty.")
        try:
            claims = jwt.decode(header[7:].strip(), self._signing_key, algorithms=["HS256"], audience=self.url,
                                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False})
        except jwt.InvalidAudienceError:
            raise _Problem(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
        except jwt.InvalidTokenError:
            raise _Problem(401, "InvalidAuthenticationToken", "Access token validation failure.")
        if claims.get("exp", 0) <= self.now().timestamp():
            raise _Problem(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
        if claims.get("tid") != self.tenant_id:
            raise _Problem(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid issuer.")
        if not needs & set(claims.get("roles") or []):
            raise _Problem(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")

    def _mailbox(self, user: str) -> Mailbox:
        key = user.lower()
        mailbox = self.mailboxes.get(key) or next(
            (m for m in self.mailboxes.values() if m.object_id.lower() == key), None)
        if mailbox is None:
            raise _Problem(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        if not mailbox.exchange:
            raise _Problem(404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or "
                                                               "is hosted on-premise.")
        if mailbox.denied:
            raise _Problem(403, "ErrorAccessDenied", "Access to OData is disabled: [RAOP] : Blocked by tenant "
                                                     "configured AppOnly AccessPolicy settings.")
        return mailbox

    # -- Graph: users ------------------------------------------------------------------

    async def _users(self, request: web.Request) -> web.Response:
        return await self._directory(request, self._list_users)

    def _fail_as_scripted(self) -> None:
        """Raise the next scripted failure that answers before anything is done (not the
        after-commit kind, which only calendar writes have)."""
        for rule in self._rules:
            if rule.remaining > 0 and not rule.after_commit:
                rule.remaining -= 1
                headers = {"Retry-After": rule.retry_after} if rule.retry_after is not None else None
                raise _Problem(rule.status, rule.code, f"emulated {rule.status}", headers)

    async def _user(self, request: web.Request) -> web.Response:
        return await self._directory(request, self._one_user)

    async def _directory(self, request: web.Request, handler: Any) -> web.Response:
        """Like `_graph`, for /users: scripted failures, the token, User.Read.All."""
        rec = self._record("graph", request, None)
        try:
            self._fail_as_scripted()
            try:
                self._authenticate(request, {USER_READ, "User.ReadBasic.All", "Directory.Read.All"})
            except _Problem as p:
                if p.status == 403:  # Microsoft Entra's code for it, not Exchange's
                    raise _Problem(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
                raise
            resp = handler(request)
        except _Problem as p:
            resp = _graph_error(p.status, p.code, p.message, p.headers)
        rec.status = resp.status
        return resp

    def _user_json(self, mailbox: Mailbox, request: web.Request) -> dict[str, Any]:
        full = {"id": mailbox.object_id, "displayName": mailbox.name, "mail": mailbox.email,
                "userPrincipalName": mailbox.upn or mailbox.email, "mobilePhone": mailbox.phone,
                "businessPhones": [], "jobTitle": mailbox.job_title}
        select = request.query.get("$select")
        if select:
            wanted = {f.strip() for f in select.split(",")}
            return {k: v for k, v in full.items() if k in wanted or k == "id"}
        return full

    def _list_users(self, request: web.Request) -> web.Response:
        users = list(self.mailboxes.values())
        text = request.query.get("$filter")
        if text is not None:
            m = re.fullmatch(r"\s*(mail|userPrincipalName)\s+eq\s+'((?:[^']|'')*)'\s*", text)
            if not m:
                raise _Problem(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause "
                                                                "specified for property of resource 'User'.")
            value = m.group(2).replace("''", "'").lower()
            if m.group(1) == "mail":
                users = [u for u in users if u.email.lower() == value]
            else:
                users = [u for u in users if (u.upn or u.email).lower() == value]
        return web.json_response({"@odata.context": f"{self.graph_url}/$metadata#users",
                                  "value": [self._user_json(u, request) for u in users]})

    def _one_user(self, request: web.Request) -> web.Response:
        key = request.match_info["user"].lower()
        user = next((u for u in self.mailboxes.values()
                     if key in (u.object_id.lower(), (u.upn or u.email).lower())), None)
        if user is None:
            raise _Problem(404, "Request_ResourceNotFound", f"Resource '{request.match_info['user']}' does not exist "
                                                            "or one of its queried reference-property objects are "
                                                            "not present.")
        return web.json_response(self._user_json(user, request))

    def _event(self, mailbox: Mailbox, event_id: str) -> EmulatedEvent:
        event = self.events.get(event_id)
        if event is None or event.organiser is not mailbox or event.cancelled:
            raise _Problem(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return event

    def _zone(self, request: web.Request) -> dt.tzinfo:
        m = re.search(r'outlook\.timezone="([^"]+)"', request.headers.get("Prefer", ""))
        if not m or m.group(1) == "UTC":
            return UTC
        return ZoneInfo(m.group(1))

    def _to_json(self, event: EmulatedEvent, request: web.Request) -> dict[str, Any]:
        zone = self._zone(request)
        organiser = {"emailAddress": {"name": event.organiser.name, "address": event.organiser.email}}
        data = {
            "@odata.etag": f'W/"{event.change_key}"', "id": event.id, "changeKey": event.change_key,
            "createdDateTime": _instant(event.created), "lastModifiedDateTime": _instant(event.modified),
            "iCalUId": event.ical_uid, "subject": event.subject, "body": event.body,
            "bodyPreview": re.sub(r"<[^>]+>", "", str(event.body.get("content", "")))[:255],
            "importance": "normal", "sensitivity": event.sensitivity, "isAllDay": False,
            "isCancelled": event.cancelled, "isOrganizer": True, "responseRequested": True,
            "allowNewTimeProposals": event.allow_new_time_proposals, "transactionId": event.transaction_id,
            "showAs": "busy", "type": "singleInstance",
            "webLink": f"https://outlook.office365.com/owa/?itemid={event.id}&exvsurl=1&path=/calendar/item",
            "onlineMeetingUrl": None, "isOnlineMeeting": event.is_online,
            "onlineMeetingProvider": event.provider or "unknown",
            "onlineMeeting": {"joinUrl": event.join_url} if event.join_url else None,
            "start": _graph_time(event.start, zone), "end": _graph_time(event.end, zone),
            "attendees": [{"type": a.type, "status": {"response": a.response, "time": _instant(a.time)},
                           "emailAddress": {"name": a.name or a.address, "address": a.address}}
                          for a in event.attendees],
            "organizer": organiser,
            "responseStatus": {"response": "organizer", "time": _instant(None)},
        }
        select = request.query.get("$select")
        if select:
            fields = {f.strip() for f in select.split(",") if f.strip()}
            data = {k: v for k, v in data.items() if k in fields or k in ("id", "@odata.etag")}
        return data

    @staticmethod
    def _read_attendees(value: Any, before: list[EmulatedAttendee] | None = None) -> list[EmulatedAttendee]:
        if not isinstance(value, list):
            raise _Problem(400, "ErrorInvalidRequest", "attendees must be a collection")
        previous = {a.address.lower(): a for a in before or []}
        out: list[EmulatedAttendee] = []
        for item in value:
            address = item.get("emailAddress") if isinstance(item, dict) else None
            email = address.get("address") if isinstance(address, dict) else None
            kind = item.get("type", "required") if isinstance(item, dict) else None
            if not isinstance(email, str) or "@" not in email:
                raise _Problem(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
            if kind not in ("required", "optional", "resource"):
                raise _Problem(400, "ErrorInvalidRequest", f"Invalid attendee type {kind!r}.")
            old = previous.get(email.lower())
            out.append(EmulatedAttendee(email, address.get("name"), kind, old.response if old else "none",
                                        old.time if old else None))
        return out

    # -- Graph: handlers ---------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        return await self._graph(request, self._do_create, {READ_WRITE})

    def _do_create(self, request: web.Request, mailbox: Mailbox, body: Any) -> web.Response:
        if not isinstance(body, dict):
            raise _Problem(400, "ErrorInvalidRequest", "The request body must be an event.")
        unknown = set(body) - {"subject", "body", "start", "end", "attendees", "isOnlineMeeting",
                               "onlineMeetingProvider", "allowNewTimeProposals", "transactionId", "location",
                               "responseRequested", "sensitivity", "importance", "showAs"}
        if unknown:
            raise _Problem(400, "RequestBodyRead", f"Invalid property {sorted(unknown)[0]!r}.")
        transaction = body.get("transactionId")
        if transaction:
            for event in self.events.values():
                if event.organiser is mailbox and event.transaction_id == transaction:
                    return web.json_response(self._to_json(event, request), status=201)
        try:
            start, end = _read_graph_time(body.get("start")), _read_graph_time(body.get("end"))
        except (ValueError, KeyError) as exc:
            raise _Problem(400, "ErrorInvalidRequest", f"Invalid start or end: {exc}") from None
        if end <= start:
            raise _Problem(400, "ErrorInvalidRequest", "The end time must be after the start time.")
        online = bool(body.get("isOnlineMeeting"))
        provider = body.get("onlineMeetingProvider")
        if online and provider not in ("teamsForBusiness", "skypeForBusiness", "skypeForConsumer"):
            raise _Problem(400, "ErrorInvalidRequest", "A valid onlineMeetingProvider is required.")
        join_url = None
        if online and provider == "teamsForBusiness" and mailbox.teams:
            join_url = ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_"
                        f"{secrets.token_urlsafe(24)}%40thread.v2/0?context=%7b%22Tid%22%3a%22{self.tenant_id}%22%7d")
        now = self.now()
        event_id = "AAMkAGI2TG93AAA" + secrets.token_urlsafe(30) + "="
        event = EmulatedEvent(
            id=event_id, organiser=mailbox, subject=str(body.get("subject") or ""),
            body=body.get("body") if isinstance(body.get("body"), dict) else {"contentType": "text", "content": ""},
            start=start, end=end, attendees=self._read_attendees(body.get("attendees", [])), is_online=online,
            provider=provider if online else None, join_url=join_url, transaction_id=transaction,
            allow_new_time_proposals=bool(body.get("allowNewTimeProposals", True)),
            sensitivity=str(body.get("sensitivity") or "normal"), change_key=_change_key(),
            ical_uid="040000008200E00074C5B7101A82E008" + secrets.token_hex(24).upper(), created=now, modified=now)
        self.events[event_id] = event
        return web.json_response(self._to_json(event, request), status=201)

    async def _get(self, request: web.Request) -> web.Response:
        return await self._graph(request, self._do_get, {READ, READ_WRITE})

    def _do_get(self, request: web.Request, mailbox: Mailbox, body: Any) -> web.Response:
        return web.json_response(self._to_json(self._event(mailbox, request.match_info["event"]), request))

    async def _patch(self, request: web.Request) -> web.Response:
        return await self._graph(request, self._do_patch, {READ_WRITE})

    def _do_patch(self, request: web.Request, mailbox: Mailbox, body: Any) -> web.Response:
        event = self._event(mailbox, request.match_info["event"])
        if not isinstance(body, dict) or not body:
            raise _Problem(400, "ErrorInvalidRequest", "Empty Payload, JSON content expected.")
        allowed = {"subject", "body", "start", "end", "attendees", "location", "allowNewTimeProposals",
                   "sensitivity", "importance", "showAs", "isOnlineMeeting", "onlineMeetingProvider"}
        if set(body) - allowed:
            raise _Problem(400, "ErrorInvalidRequest", f"Property {sorted(set(body) - allowed)[0]!r} can't be "
                                                       "updated.")
        start, end = event.start, event.end
        try:
            if "start" in body:
                start = _read_graph_time(body["start"])
            if "end" in body:
                end = _read_graph_time(body["end"])
        except (ValueError, KeyError) as exc:
            raise _Problem(400, "ErrorInvalidRequest", f"Invalid start or end: {exc}") from None
        if end <= start:
            raise _Problem(400, "ErrorInvalidRequest", "The end time must be after the start time.")
        attendees = self._read_attendees(body["attendees"], event.attendees) if "attendees" in body else None
        if (start, end) != (event.start, event.end):
            event.start, event.end = start, end
            for a in event.attendees:      # Outlook asks everyone to answer the new time
                a.response, a.time = "none", None
        if attendees is not None:
            event.attendees = attendees
        if "subject" in body:
            event.subject = str(body["subject"])
        if isinstance(body.get("body"), dict):
            event.body = body["body"]
        if "allowNewTimeProposals" in body:
            event.allow_new_time_proposals = bool(body["allowNewTimeProposals"])
        if "sensitivity" in body:
            event.sensitivity = str(body["sensitivity"])
        event.change_key = _change_key()
        event.modified = self.now()
        return web.json_response(self._to_json(event, request))

    async def _cancel(self, request: web.Request) -> web.Response:
        return await self._graph(request, self._do_cancel, {READ_WRITE})

    def _do_cancel(self, request: web.Request, mailbox: Mailbox, body: Any) -> web.Response:
        event = self._event(mailbox, request.match_info["event"])
        if body is not None and not isinstance(body, dict):
            raise _Problem(400, "ErrorInvalidRequest", "The request body must be an object.")
        event.cancelled = True
        event.cancel_comment = (body or {}).get("Comment")
        event.change_key = _change_key()
        return web.Response(status=202)

    async def _send_mail(self, request: web.Request) -> web.Response:
        return await self._graph(request, self._do_send_mail, {MAIL_SEND})

    def _do_send_mail(self, request: web.Request, mailbox: Mailbox, body: Any) -> web.Response:
        """Graph's sendMail: 202 and no body; 400 ErrorInvalidRecipients without a recipient."""
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, dict):
            raise _Problem(400, "ErrorInvalidRequest", "Empty Payload. JSON content expected.")
        recipients = [r.get("emailAddress", {}).get("address") for r in message.get("toRecipients") or ()
                      if isinstance(r, dict)]
        if not recipients or not all(isinstance(a, str) and "@" in a for a in recipients):
            raise _Problem(400, "ErrorInvalidRecipients", "At least one recipient is not valid.")
        content = (message.get("body") or {}).get("content") or ""
        self.mails.append(SentMail(mailbox.email, tuple(recipients), str(message.get("subject") or ""), content))
        return web.Response(status=202)

    def mails_to(self, address: str) -> list["SentMail"]:
        return [m for m in self.mails if address.lower() in (a.lower() for a in m.to)]

    async def _schedule(self, request: web.Request) -> web.Response:
        return await self._graph(request, self._do_schedule, {READ, READ_WRITE})

    def _do_schedule(self, request: web.Request, mailbox: Mailbox, body: Any) -> web.Response:
        if not isinstance(body, dict) or not isinstance(body.get("schedules"), list) or not body["schedules"]:
            raise _Problem(400, "ErrorInvalidRequest", "schedules is required.")
        try:
            start, end = _read_graph_time(body.get("startTime")), _read_graph_time(body.get("endTime"))
        except (ValueError, KeyError) as exc:
            raise _Problem(400, "ErrorInvalidRequest", f"Invalid startTime or endTime: {exc}") from None
        interval = body.get("availabilityViewInterval", 30)
        if not isinstance(interval, int) or not 5 <= interval <= 1440:
            raise _Problem(400, "ErrorInvalidRequest", "availabilityViewInterval must be between 5 and 1440.")
        if end <= start:
            raise _Problem(400, "ErrorInvalidRequest", "The end time must be after the start time.")
        zone = self._zone(request)
        value = []
        for address in body["schedules"]:
            value.append(self._schedule_of(str(address), start, end, interval, zone))
        return web.json_response({"@odata.context": f"{self.graph_url}/$metadata#Collection("
                                                    "microsoft.graph.scheduleInformation)", "value": value})

    def _blocks(self, mailbox: Mailbox) -> list[tuple[dt.datetime, dt.datetime, str, str]]:
        blocks = list(mailbox.busy)
        for event in self.events.values():
            if event.cancelled:
                continue
            if event.organiser is mailbox:
                blocks.append((event.start, event.end, "busy", event.subject))
                continue
            attendee = event.attendee(mailbox.email)
            if attendee is None or attendee.response == "declined":
                continue
            blocks.append((event.start, event.end, "busy" if attendee.response == "accepted" else "tentative",
                           event.subject))
        return blocks

    def _schedule_of(self, address: str, start: dt.datetime, end: dt.datetime, interval: int,
                     zone: dt.tzinfo) -> dict[str, Any]:
        mailbox = self.mailboxes.get(address.lower())
        if mailbox is None or not mailbox.exchange:
            inside = address.rsplit("@", 1)[-1].lower() in self.domains
            code, message = (("ErrorMailboxNotFound", "The user's mailbox was not found.") if inside else
                             ("ErrorProxyRequestNotAllowed", "Proxy requests aren't allowed for this recipient."))
            return {"scheduleId": address, "availabilityView": "", "scheduleItems": [],
                    "error": {"message": message, "responseCode": code}}
        items = [(s, e, st, subj) for s, e, st, subj in self._blocks(mailbox) if s < end and e > start]
        items.sort()
        rank = {"free": 0, "tentative": 1, "busy": 2, "oof": 3, "workingElsewhere": 4}
        order = {"0": 0, "1": 1, "4": 2, "2": 3, "3": 4}   # which status wins a slot: oof > busy > elsewhere > tentative
        view = []
        slot = start
        step = dt.timedelta(minutes=interval)
        while slot < end:
            best = "0"
            for s, e, status, _ in items:
                if s < slot + step and e > slot:
                    digit = str(rank.get(status, 2))
                    if order[digit] > order[best]:
                        best = digit
            view.append(best)
            slot += step
        return {"scheduleId": address, "availabilityView": "".join(view),
                "scheduleItems": [{"isPrivate": False, "status": status, "subject": subject, "location": "",
                                   "isMeeting": False, "isRecurring": False, "isException": False,
                                   "isReminderSet": False, "start": _graph_time(s, zone), "end": _graph_time(e, zone)}
                                  for s, e, status, subject in items],
                "workingHours": {"daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                                 "startTime": "09:00:00.0000000", "endTime": "17:00:00.0000000",
                                 "timeZone": {"name": "GMT Standard Time"}}}


def _change_key() -> str:
    return "DwAAABYAAAA" + secrets.token_urlsafe(18)


def _header(value: float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@contextlib.asynccontextmanager
async def running_graph_emulator(**kwargs: Any) -> AsyncIterator[GraphEmulator]:
    """Start an emulator on 127.0.0.1 (an ephemeral port) with fresh TLS material; stop it on exit."""
    emu = GraphEmulator(**kwargs)
    with tempfile.TemporaryDirectory(prefix="graph-emulator-") as tmp:
        tls = make_tls(tmp)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert_path, tls.key_path)
        runner = web.AppRunner(emu.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        try:
            port = runner.addresses[0][1]
            emu.url = f"https://127.0.0.1:{port}"
            emu.ca_path = tls.ca_path
            yield emu
        finally:
            await runner.cleanup()


__all__ = ["CATALOG", "INSTALL", "ClientCertificate", "DEFAULT_CLIENT", "DEFAULT_DOMAIN", "DEFAULT_SECRET", "DEFAULT_TENANT",
           "EmulatedEvent", "GraphEmulator", "Mailbox", "READ", "READ_WRITE", "make_client_certificate",
           "make_tls", "running_graph_emulator"]
