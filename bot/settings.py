"""Every setting comes from the environment (documented in README.md); the defaults run the
bot locally with no accounts: 127.0.0.1:3978, embedded SQLite, Bot Framework auth off."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 3978
    database_url: str = f"sqlite:///{ROOT / 'var' / 'stratbot.sqlite3'}"
    config_dir: Path = ROOT / "config"
    app_id: str = ""
    app_password: str = ""
    app_tenant_id: str = ""
    app_type: str = "MultiTenant"
    worker_id: str = field(default_factory=lambda: f"{os.uname().nodename}:{os.getpid()}")
    delivery_poll_seconds: float = 2.0
    delivery_lease_seconds: float = 60.0
    reminder_poll_seconds: float = 30.0
    replicas: int = 1  # processes sharing one app registration: each takes its share of Teams' rate
    calendar_poll_seconds: float = 120.0  # how often attendees' calendar answers are read (with Graph)
    # Answer links (bot/answer_links.py): where the bot is reachable from outside, the signing
    # secret (empty: one kept in var/, fine for one process) and how long a link lasts.
    public_url: str = ""
    answer_link_secret: str = field(default="", repr=False)
    answer_link_days: float = 10.0
    var_dir: Path = ROOT / "var"

    @property
    def auth_enabled(self) -> bool:
        return bool(self.app_id)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        defaults = cls()
        return cls(
            host=env.get("HOST", defaults.host),
            port=int(env.get("PORT", defaults.port)),
            database_url=env.get("DATABASE_URL") or defaults.database_url,
            config_dir=Path(env.get("STRATBOT_CONFIG_DIR") or defaults.config_dir),
            app_id=env.get("MicrosoftAppId", ""),
            app_password=env.get("MicrosoftAppPassword", ""),
            app_tenant_id=env.get("MicrosoftAppTenantId", ""),
            app_type=env.get("MicrosoftAppType", defaults.app_type),
            delivery_poll_seconds=float(env.get("STRATBOT_DELIVERY_POLL_SECONDS", defaults.delivery_poll_seconds)),
            delivery_lease_seconds=float(env.get("STRATBOT_DELIVERY_LEASE_SECONDS", defaults.delivery_lease_seconds)),
            reminder_poll_seconds=float(env.get("STRATBOT_REMINDER_POLL_SECONDS", defaults.reminder_poll_seconds)),
            replicas=max(1, int(env.get("STRATBOT_REPLICAS", defaults.replicas))),
            calendar_poll_seconds=float(env.get("STRATBOT_CALENDAR_POLL_SECONDS", defaults.calendar_poll_seconds)),
            public_url=env.get("STRATBOT_PUBLIC_URL", ""),
            answer_link_secret=env.get("STRATBOT_ANSWER_LINK_SECRET", ""),
            answer_link_days=float(env.get("STRATBOT_ANSWER_LINK_DAYS", defaults.answer_link_days)),
        )

    @property
    def base_url(self) -> str:
        """Where people outside reach the bot (answer links): STRATBOT_PUBLIC_URL, else host and port."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
