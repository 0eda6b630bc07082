"""App-only tokens for Microsoft Graph from Microsoft Entra, through MSAL.

Why this exists: the bot acts as itself (client credentials: a secret or a certificate),
not as a signed-in user, to create meetings in a chair's or the organiser mailbox's calendar.

* ONE `msal.ConfidentialClientApplication` per `GraphToken`, and one `GraphToken` per
  process (build it once in the wiring and share it between clients): MSAL's in-memory token
  cache then serves every call until five minutes before the token expires
  (`acquire_token_for_client` looks in the cache first, since MSAL 1.23).
* MSAL is synchronous (`requests`), so it runs in a worker thread (`asyncio.to_thread`);
  the application is built lazily there too, because its constructor already fetches the
  tenant's OpenID configuration. Calls are single-flight: concurrent callers wait for one.
* `refresh(rejected)` is the "force refresh" MSAL does not offer for client credentials
  (`acquire_token_for_client(force_refresh=True)` raises): after Graph answered 401 with a
  token, that token is removed from MSAL's cache and a new one is requested.

Pointing MSAL somewhere other than Entra (a national cloud, a proxy, the test emulator in
tests/emulators/graph.py): `authority_host` must be https (MSAL insists). For a host that is
not one of Microsoft's well-known login hosts, instance discovery is turned off
(`instance_discovery=False`): MSAL would otherwise ask login.microsoftonline.com to vouch for
it, and the operator who configured the host is the authority on it. MSAL still performs
tenant discovery (`<authority>/v2.0/.well-known/openid-configuration`) against that host.
TLS is verified against `ca_bundle` when one is configured; it is passed on every request,
because `requests` lets REQUESTS_CA_BUNDLE in the environment override a session's `verify`.
Proxies come from the environment (HTTPS_PROXY / NO_PROXY), as for any `requests` user.

Failures: Entra refusing (invalid_client, unauthorized_client, invalid_scope, an unknown
tenant...) is `GraphAuthError` with Entra's error code and the first line of its description
(the AADSTS code and text; trace ids dropped). Entra unreachable or failing is
`GraphUnavailable`. Neither message ever contains the secret or a token.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from urllib.parse import urlsplit

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

from .errors import GraphAuthError, GraphConfigError, GraphUnavailable
from .settings import CERT_PATH, CERT_THUMBPRINT, GraphSettings

log = logging.getLogger(__name__)

#: Entra error codes that mean "try again later", not "your credentials are wrong".
TRANSIENT_ENTRA_ERRORS = frozenset({"temporarily_unavailable", "server_error"})


class TokenSource(Protocol):
    """What `GraphClient` needs from a token provider (GraphToken, or a stub in tests)."""

    async def token(self) -> str: ...

    async def refresh(self, rejected: str) -> str: ...


class _VerifyingSession(requests.Session):
    """A requests session that always verifies TLS against `verify` and applies a timeout.

    `verify` is set per request: a session-level `verify` loses to REQUESTS_CA_BUNDLE /
    CURL_CA_BUNDLE in the environment (requests merges environment settings first).
    """

    def __init__(self, verify: str | bool, timeout: float) -> None:
        super().__init__()
        self._verify = verify
        self._timeout = timeout
        adapter = requests.adapters.HTTPAdapter(max_retries=1)  # MSAL's own default: one retry on connect errors
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["verify"] = self._verify
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


def load_certificate_credential(path: str, thumbprint: str) -> dict[str, str]:
    """MSAL's certificate credential from a PEM file holding the private key.

    When the file also holds the certificate, its SHA-1 thumbprint must be `thumbprint`:
    a mismatch is found now, at start-up, rather than as AADSTS700027 on the first meeting.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise GraphConfigError(f"{CERT_PATH}: cannot read {path!r} ({exc.strerror or type(exc).__name__})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise GraphConfigError(f"{CERT_PATH}: the private key in {path!r} is encrypted; "
                               f"give an unencrypted PEM key (protect the file instead)") from None
    except ValueError:
        raise GraphConfigError(f"{CERT_PATH}: {path!r} holds no PEM private key") from None
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if certs:
        actual = certs[0].fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - Entra's x5t is SHA-1
        if actual != thumbprint.upper():
            raise GraphConfigError(f"{CERT_THUMBPRINT} does not match the certificate in {CERT_PATH} "
                                   f"(its SHA-1 thumbprint is {actual})")
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    return {"private_key": key_pem, "thumbprint": thumbprint.upper()}


def _first_line(text: Any, limit: int = 300) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return None
    return text.strip().splitlines()[0].strip()[:limit]


class GraphToken:
    """Hands out app-only Graph tokens; see the module docstring. One per process."""

    def __init__(self, settings: GraphSettings, *, http_client: Any = None, timeout: float = 30.0) -> None:
        self.settings = settings
        self.scopes = [settings.scope]
        if settings.client_secret is not None:
            self._credential: str | dict[str, str] = settings.client_secret
        else:
            assert settings.cert_path is not None and settings.cert_thumbprint is not None
            self._credential = load_certificate_credential(settings.cert_path, settings.cert_thumbprint)
        self._own_http = http_client is None
        self._http = http_client if http_client is not None else _VerifyingSession(
            settings.ca_bundle or True, timeout)
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = asyncio.Lock()
        # Never shown: the secret, or a key, must not reach a log through a repr or a message.
        self._redact = [settings.client_secret] if settings.client_secret else []

    def __repr__(self) -> str:
        return (f"GraphToken(client_id={self.settings.client_id!r}, authority={self.settings.authority!r}, "
                f"credential={self.settings.credential_kind!r})")

    # -- public ------------------------------------------------------------------------

    async def token(self) -> str:
        """A valid access token (from MSAL's cache when it has one)."""
        return await self._get(None)

    async def refresh(self, rejected: str) -> str:
        """A token other than `rejected`, which Graph refused (401): dropped from the cache."""
        return await self._get(rejected)

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    # -- internals ----------------------------------------------------------------------

    async def _get(self, rejected: str | None) -> str:
        async with self._lock:
            try:
                result = await asyncio.to_thread(self._acquire, rejected)
            except (GraphAuthError, GraphUnavailable):
                raise
            except requests.RequestException as exc:
                raise GraphUnavailable(f"getting a Microsoft Graph token failed: Microsoft Entra could not be "
                                       f"reached ({type(exc).__name__})", op="token") from None
            except ValueError as exc:
                if not str(exc).startswith("Unable to get authority configuration"):
                    raise GraphUnavailable(f"getting a Microsoft Graph token failed: Microsoft Entra answered "
                                           f"unexpectedly ({type(exc).__name__})", op="token") from None
                # MSAL's tenant discovery answered 4xx: an unknown tenant or a wrong host.
                raise GraphAuthError(f"getting a Microsoft Graph token failed: {self.settings.authority} has no "
                                     f"OpenID configuration (is STRATBOT_GRAPH_TENANT_ID or "
                                     f"STRATBOT_GRAPH_AUTHORITY_HOST wrong?)", code="invalid_authority") from None
            except Exception as exc:  # a malformed answer from Entra, TLS problems surfacing oddly...
                raise GraphUnavailable(f"getting a Microsoft Graph token failed: Microsoft Entra answered "
                                       f"unexpectedly ({type(exc).__name__})", op="token") from None
        access = result.get("access_token") if isinstance(result, Mapping) else None
        if isinstance(access, str) and access:
            return access
        error = result.get("error") if isinstance(result, Mapping) else None
        code = error if isinstance(error, str) and error else "no_access_token"
        description = self._clean(_first_line(result.get("error_description") if isinstance(result, Mapping)
                                              else None))
        message = f"getting a Microsoft Graph token failed: {code}" + (f": {description}" if description else "")
        if code in TRANSIENT_ENTRA_ERRORS:
            raise GraphUnavailable(message, op="token", code=code)
        raise GraphAuthError(message, code=code, description=description)

    def _clean(self, text: str | None) -> str | None:
        if text is None:
            return None
        for secret in self._redact:
            text = text.replace(secret, "***")
        return text

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            host = urlsplit(self.settings.authority_host).hostname or ""
            self._app = msal.ConfidentialClientApplication(
                self.settings.client_id,
                client_credential=self._credential,
                authority=self.settings.authority,
                http_client=self._http,
                # The configured host is trusted as given (see the module docstring); for
                # Microsoft's own hosts MSAL skips instance discovery anyway.
                instance_discovery=None if host in WELL_KNOWN_AUTHORITY_HOSTS else False,
            )
        return self._app

    def _acquire(self, rejected: str | None) -> Mapping[str, Any]:
        app = self._application()
        if rejected is not None:
            cache = app.token_cache
            for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                if entry.get("secret") == rejected:
                    cache.remove_at(entry)
            log.info("graph token: Graph refused the cached token; fetching a new one")
        return app.acquire_token_for_client(scopes=self.scopes)


__all__ = ["GraphToken", "TokenSource", "load_certificate_credential"]
