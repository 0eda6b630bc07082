"""Builds the running service inside an aiohttp cleanup context: everything opened here is
closed when the app stops, and nothing lives in module globals."""
from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

import aiohttp
from aiohttp import web

from .config_loader import load_profiles
from .directory import DirectoryError, load_directory

from .keys import ADAPTER, BOT, HEALTH, REMINDERS, SERVICE, SETTINGS, WORKER

log = logging.getLogger("bot")


async def services_context(app: web.Application) -> AsyncIterator[None]:
    from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

    from .adapters.connector import TEAMS_APP_LIMITS, ConnectorClient, Limit, MsalBotToken, NoAuth, RateLimiter
    from .adapters.db import migrate
    from .adapters.db.repository import Repository
    from .adapters.teams.handler import StrategyMeetingBot
    from .adapters.teams.messenger import ConnectorMessenger
    from .conversation import ConversationService
    from .delivery import DeliveryWorker
    from .reminding import ReminderScheduler, ReminderWorker

    from .adapters.teams import speedups

    speedups.apply()
    settings = app[SETTINGS]
    profiles = load_profiles(settings.config_dir)
    directories = {}
    for area in profiles:
        try:
            directories[area] = load_directory(area, settings.config_dir)
        except DirectoryError as e:
            log.warning("no usable directory for %s: %s", area, "; ".join(e.problems))
    await asyncio.to_thread(migrate.upgrade, settings.database_url)
    repo = Repository.from_url(settings.database_url)
    session = aiohttp.ClientSession()
    if settings.auth_enabled:
        tenant = settings.app_tenant_id if settings.app_type == "SingleTenant" else "botframework.com"
        tokens = MsalBotToken(settings.app_id, settings.app_password, tenant)
    else:
        tokens = NoAuth()
    # Teams counts 50 requests a second per app per tenant across every replica; each
    # process keeps to its share (the limiter lives in the process).
    share = tuple(Limit(max(1, lim.count // settings.replicas), lim.per) for lim in TEAMS_APP_LIMITS)
    client = ConnectorClient(session, tokens, bot_id=settings.app_id or "strategy-meeting-bot",
                             limiter=RateLimiter(per_app=share))
    service = ConversationService(profiles, directories, repo, ConnectorMessenger(client))
    worker = DeliveryWorker(service, owner=settings.worker_id, lease_seconds=settings.delivery_lease_seconds)
    service.wake_delivery = worker.wake
    reminder_worker = ReminderWorker(service, owner=settings.worker_id, lease_seconds=settings.delivery_lease_seconds)
    scheduler = ReminderScheduler(reminder_worker, settings.reminder_poll_seconds)
    service.wake_reminders = scheduler.wake
    app[SERVICE], app[WORKER], app[REMINDERS] = service, worker, reminder_worker
    app[ADAPTER] = CloudAdapter(ConfigurationBotFrameworkAuthentication(settings.botframework_config()))
    app[BOT] = StrategyMeetingBot(service)

    async def database_ok() -> bool:
        try:
            await asyncio.to_thread(repo.get_meeting, "healthz")
            return True
        except Exception:
            return False

    app[HEALTH] = {"database": database_ok}
    task = asyncio.create_task(worker.run_forever(settings.delivery_poll_seconds), name="delivery")
    scheduler.start()  # its first run fires whatever fell due while no process was running
    try:
        yield
    finally:
        scheduler.shutdown()
        await service.close()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        await session.close()
        await asyncio.to_thread(repo.close)
