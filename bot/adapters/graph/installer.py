"""The service's AppInstaller port over Microsoft Graph: install the bot's own Teams app for
someone in the bot's tenant, then read the 1:1 chat's id (Microsoft's "Send proactive
installation messages"). Graph's refusals become the connector's DeliveryError kinds, so the
delivery worker treats them like Teams' own: a refusal is permanent and told to the chair, an
outage is retried later.

Application permissions: TeamsAppInstallation.ReadWriteSelfForUser.All (install, list, chat)
and AppCatalog.Read.All (the app's catalog id from its manifest id, looked up once).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..connector import DeliveryError
from .client import GraphClient
from .errors import GraphAuthError, GraphRefused, GraphUnavailable


@dataclass
class GraphAppInstaller:
    """`AppInstaller` over bot.adapters.graph.GraphClient. `app_id` is the manifest's id (the
    bot's app id); the organisation's catalog id for it is looked up once per process."""

    graph: GraphClient
    app_id: str
    tenant_id: str | None
    _catalog_id: str | None = field(default=None, repr=False)

    async def install(self, aad_object_id: str) -> str:
        graph = self.graph
        try:
            if self._catalog_id is None:
                self._catalog_id = await graph.find_teams_app(self.app_id)
                if self._catalog_id is None:
                    raise DeliveryError("unauthorized", None, "the Strategy meetings app is not in the "
                                        "organisation's Teams app catalog, so the bot cannot install it",
                                        code="AppNotInCatalog")
            await graph.install_app_for_user(aad_object_id, self._catalog_id)
            installation = await graph.app_installation(aad_object_id, self.app_id)
            if installation is None:
                raise DeliveryError("server", None, "Microsoft Graph installed the app but did not list it yet")
            return await graph.installation_chat(aad_object_id, installation)
        except GraphRefused as e:  # another tenant, no Teams licence, permission not granted
            raise DeliveryError("not_installed", e.status, "installing the Strategy meetings app for them was "
                                f"refused by Microsoft Graph (HTTP {e.status}{', ' + e.code if e.code else ''})",
                                code=e.code or "InstallRefused") from None
        except GraphAuthError as e:
            raise DeliveryError("unauthorized", e.status, "the bot could not sign in to Microsoft Graph to install "
                                "the app (see the bot's log)", code=e.code) from None
        except GraphUnavailable as e:
            raise DeliveryError("server", e.status, "Microsoft Graph could not be reached to install the app",
                                retry_after=e.retry_after) from None
