"""Microsoft Graph settings from the environment (STRATBOT_GRAPH_*).

Why: Graph is optional. With no STRATBOT_GRAPH_* variable set the bot works without it
(`from_env` returns None: invitations by Teams card only, no calendar events). As soon as
any of them is set the configuration must be complete: half a configuration raises
`GraphConfigError` with one line naming the missing or wrong variable, never a silent fall
back to "no Graph" (which would leave chairs without meeting invitations and nobody told).

| variable | meaning |
| --- | --- |
| STRATBOT_GRAPH_TENANT_ID | the Entra tenant (GUID or domain, e.g. contoso.onmicrosoft.com) |
| STRATBOT_GRAPH_CLIENT_ID | the app registration's application (client) id, a GUID |
| STRATBOT_GRAPH_CLIENT_SECRET | a client secret's *value*; or else the two below |
| STRATBOT_GRAPH_CERT_PATH | a PEM file with the app's private key (and, best, its certificate) |
| STRATBOT_GRAPH_CERT_THUMBPRINT | the certificate's SHA-1 thumbprint as Entra shows it (40 hex digits) |
| STRATBOT_GRAPH_ORGANISER | optional: UPN or object id of the mailbox that organises meetings when the chair has none |
| STRATBOT_GRAPH_AUTHORITY_HOST | default https://login.microsoftonline.com (national clouds, tests) |
| STRATBOT_GRAPH_BASE_URL | default https://graph.microsoft.com/v1.0 |
| STRATBOT_GRAPH_CA_BUNDLE | optional PEM file of CAs trusted for Entra and Graph *instead of* the system's (a TLS-inspecting proxy, the test emulator) |

Empty values count as unset. Secret and certificate together is an error too: which one is
used must never be a guess.
"""
from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from .errors import GraphConfigError

PREFIX = "STRATBOT_GRAPH_"
TENANT_ID = PREFIX + "TENANT_ID"
CLIENT_ID = PREFIX + "CLIENT_ID"
CLIENT_SECRET = PREFIX + "CLIENT_SECRET"
CERT_PATH = PREFIX + "CERT_PATH"
CERT_THUMBPRINT = PREFIX + "CERT_THUMBPRINT"
ORGANISER = PREFIX + "ORGANISER"
AUTHORITY_HOST = PREFIX + "AUTHORITY_HOST"
BASE_URL = PREFIX + "BASE_URL"
CA_BUNDLE = PREFIX + "CA_BUNDLE"
ALL_VARIABLES = (TENANT_ID, CLIENT_ID, CLIENT_SECRET, CERT_PATH, CERT_THUMBPRINT, ORGANISER, AUTHORITY_HOST,
                 BASE_URL, CA_BUNDLE)

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_BASE_URL = "https://graph.microsoft.com/v1.0"

_DNS_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
_UPN = re.compile(r"^[^@\s/\\?#]+@[^@\s/\\?#]+\.[^@\s/\\?#]+$")


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


@dataclass(frozen=True)
class GraphSettings:
    """A complete Graph configuration. Build it with `from_env`; the secret is never shown."""

    tenant_id: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    cert_path: str | None = None
    cert_thumbprint: str | None = None   # upper-case hex, no separators
    organiser: str | None = None
    authority_host: str = DEFAULT_AUTHORITY_HOST
    base_url: str = DEFAULT_BASE_URL
    ca_bundle: str | None = None

    def __post_init__(self) -> None:
        if (self.client_secret is None) == (self.cert_path is None):
            raise GraphConfigError("GraphSettings needs exactly one of a client secret or a certificate")
        if (self.cert_path is None) != (self.cert_thumbprint is None):
            raise GraphConfigError("GraphSettings needs a certificate thumbprint with a certificate path")

    @property
    def credential_kind(self) -> Literal["secret", "certificate"]:
        return "secret" if self.client_secret is not None else "certificate"

    @property
    def authority(self) -> str:
        """The tenant's authority URL, e.g. https://login.microsoftonline.com/<tenant>."""
        return f"{self.authority_host}/{self.tenant_id}"

    @property
    def scope(self) -> str:
        """App-only scope for the Graph at `base_url`: its origin + "/.default"
        (https://graph.microsoft.com/.default; https://graph.microsoft.us/.default...)."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}/.default"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GraphSettings | None:
        """The settings in `env` (default: os.environ); None when no STRATBOT_GRAPH_* is set.

        Raises GraphConfigError (a ValueError) with a one-line message naming the variable
        when the configuration is incomplete or a value is malformed.
        """
        env = os.environ if env is None else env
        values = {name: (env.get(name) or "").strip() for name in ALL_VARIABLES}
        given = [name for name, value in values.items() if value]
        if not given:
            return None
        because = f"Microsoft Graph is partly configured ({', '.join(given)} set)"

        def need(name: str) -> str:
            if not values[name]:
                raise GraphConfigError(f"{name} is not set; {because}")
            return values[name]

        tenant = need(TENANT_ID)
        if tenant.lower() in ("common", "organizations", "consumers"):
            raise GraphConfigError(f"{TENANT_ID} must name one tenant (app-only tokens are per tenant), "
                                   f"not {tenant!r}")
        if not (_is_guid(tenant) or _DNS_NAME.match(tenant)):
            raise GraphConfigError(f"{TENANT_ID} must be the tenant's id (a GUID) or its domain "
                                   f"(e.g. contoso.onmicrosoft.com), not {tenant!r}")
        client = need(CLIENT_ID)
        if not _is_guid(client):
            raise GraphConfigError(f"{CLIENT_ID} must be the application (client) id, a GUID, not {client!r}")

        secret = values[CLIENT_SECRET] or None
        cert_path = values[CERT_PATH] or None
        thumbprint = values[CERT_THUMBPRINT] or None
        if secret and (cert_path or thumbprint):
            both = CERT_PATH if cert_path else CERT_THUMBPRINT
            raise GraphConfigError(f"set either {CLIENT_SECRET} or a certificate ({CERT_PATH} and "
                                   f"{CERT_THUMBPRINT}), not both ({CLIENT_SECRET} and {both} are set)")
        if not secret:
            if not cert_path and not thumbprint:
                raise GraphConfigError(f"{CLIENT_SECRET} is not set (nor {CERT_PATH} and {CERT_THUMBPRINT} "
                                       f"for a certificate); {because}")
            if not cert_path:
                raise GraphConfigError(f"{CERT_PATH} is not set ({CERT_THUMBPRINT} is); {because}")
            if not thumbprint:
                raise GraphConfigError(f"{CERT_THUMBPRINT} is not set ({CERT_PATH} is); {because}")
            if not os.path.isfile(cert_path):
                raise GraphConfigError(f"{CERT_PATH}: no such file {cert_path!r}")
            thumbprint = re.sub(r"[\s:]", "", thumbprint).upper()
            if not re.fullmatch(r"[0-9A-F]{40}", thumbprint):
                raise GraphConfigError(f"{CERT_THUMBPRINT} must be the certificate's SHA-1 thumbprint, "
                                       f"40 hexadecimal digits as Entra shows it")

        organiser = values[ORGANISER] or None
        if organiser and not (_is_guid(organiser) or _UPN.match(organiser)):
            raise GraphConfigError(f"{ORGANISER} must be a mailbox's user principal name (name@domain) "
                                   f"or object id (a GUID), not {organiser!r}")

        authority_host = _https_url(AUTHORITY_HOST, values[AUTHORITY_HOST] or DEFAULT_AUTHORITY_HOST,
                                    path_allowed=False)
        base_url = _https_url(BASE_URL, values[BASE_URL] or DEFAULT_BASE_URL, path_allowed=True)
        ca_bundle = values[CA_BUNDLE] or None
        if ca_bundle and not os.path.isfile(ca_bundle):
            raise GraphConfigError(f"{CA_BUNDLE}: no such file {ca_bundle!r}")

        return cls(tenant_id=tenant, client_id=client, client_secret=secret, cert_path=cert_path,
                   cert_thumbprint=thumbprint, organiser=organiser, authority_host=authority_host,
                   base_url=base_url, ca_bundle=ca_bundle)


def _https_url(name: str, value: str, *, path_allowed: bool) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise GraphConfigError(f"{name} must be an https URL (tokens are never sent in clear), not {value!r}")
    if parts.query or parts.fragment or (not path_allowed and parts.path.strip("/")):
        raise GraphConfigError(f"{name} must be {'a base URL' if path_allowed else 'a scheme and host only'}"
                               f", not {value!r}")
    return value.rstrip("/")


__all__ = ["ALL_VARIABLES", "DEFAULT_AUTHORITY_HOST", "DEFAULT_BASE_URL", "GraphSettings"]
