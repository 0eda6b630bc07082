"""Builds the running service inside an aiohttp cleanup context: everything opened here is
closed when the app stops, and nothing lives in module globals."""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import AsyncIterator

import aiohttp
from aiohttp import web

from .config_loader import load_profiles
from .directory import load_directories

from .keys import CLOCK, EDGE, HEALTH, OUTAGES, REMINDERS, SERVICE, SETTINGS, WORKER
from .outage import Outages

log = logging.getLogger("bot")

DELIVERY_DB_THREADS = 4  # a claim, its batch's lookups and the records in flight at once


async def services_context(app: web.Application) -> AsyncIterator[None]:
    from .adapters.connector import (TEAMS_APP_LIMITS, ConnectorClient, Limit, MsalBotToken, NoAuth, RateLimiter,
                                     RetryPolicy)
    from .adapters.db import migrate
    from .adapters.db.repository import Repository
    from .adapters.teams.handler import StrategyMeetingBot
    from .adapters.teams.hosting import AuthSettings, TeamsEdge
    from .adapters.teams.messenger import ConnectorMessenger
    from .service import ConversationService
    from .delivery import DeliveryWorker
    from .reminding import ReminderScheduler, ReminderWorker

    settings = app[SETTINGS]
    profiles = load_profiles(settings.config_dir)
    from . import cards

    cards.use_document_titles(cards.document_titles_of(profiles.values()))  # citations shown by title
    directories = load_directories(profiles, settings.config_dir)  # DirectoryError: no start on a broken area
    await asyncio.to_thread(migrate.upgrade, settings.database_url)
    repo = Repository.from_url(settings.database_url, clock=app[CLOCK])
    session = aiohttp.ClientSession()
    if settings.auth_enabled:
        tenant = settings.app_tenant_id if settings.app_type == "SingleTenant" else "botframework.com"
        tokens = MsalBotToken(settings.app_id, settings.app_password, tenant)
    else:
        tokens = NoAuth()
    # Teams counts 50 requests a second per app per tenant across every replica; each
    # process keeps to its share (the limiter lives in the process).
    share = tuple(Limit(max(1, lim.count // settings.replicas), lim.per) for lim in TEAMS_APP_LIMITS)
    limiter = RateLimiter(per_app=share)  # the one limiter: proactive sends and replies alike
    client = ConnectorClient(session, tokens, bot_id=settings.app_id or "strategy-meeting-bot", limiter=limiter)
    # Replies are sent while the person waits for the press's answer (Teams gives up on an
    # invoke after about 15 s): fewer, shorter retries than proactive delivery, whose worker
    # can come back later. A reply that still fails is logged; the press stands.
    reply_client = ConnectorClient(session, tokens, bot_id=client.bot_id, limiter=limiter, request_timeout=5.0,
                                   retry=RetryPolicy(max_attempts=3, base_delay=0.25, max_delay=2.0,
                                                     max_retry_after=5.0))
    from .adapters.graph.client import GraphClient
    from .adapters.graph.settings import GraphSettings
    from .online_meetings import CalendarWatcher, OnlineMeetings

    graph_settings = GraphSettings.from_env()  # a half configuration stops start-up with the variable's name
    graph = GraphClient(graph_settings) if graph_settings else None
    if graph:
        await graph.start()

    def chair_email(area: str, aad_object_id: str) -> str | None:
        directory = directories.get(area)
        return next((c.email for c in directory.contacts if c.aad_object_id == aad_object_id and c.email), None) \
            if directory else None

    meetings = OnlineMeetings(graph, graph_settings.organiser if graph_settings else None, chair_email)
    messenger = ConnectorMessenger(client)
    from datetime import timedelta

    from .adapters.graph.installer import GraphAppInstaller
    from .answer_links import AnswerLinks, load_secret

    links = AnswerLinks(load_secret(settings.answer_link_secret, settings.var_dir), settings.base_url,
                        clock=app[CLOCK], max_age=timedelta(days=settings.answer_link_days))
    # With Graph, the bot installs its Teams app for people in its own tenant before their first
    # invitation (Teams lets a bot message only those it is installed for): bot/service/reach.py.
    installer = GraphAppInstaller(graph, client.bot_id, graph_settings.tenant_id) if graph else None
    service = ConversationService(profiles, directories, repo, messenger, meetings=meetings, clock=app[CLOCK],
                                  answer_links=links, installer=installer, teams_app_id=client.bot_id)
    outages = Outages()
    # Delivery's database calls on threads of their own, so that a burst of presses (25 chairs
    # pressing Send at once) does not hold up the claim of the invitations they wrote, nor the
    # presses queue behind delivery's lookups and records (db_threads.py). With the default
    # executor's min(32, CPUs + 4) threads this stays within SQLAlchemy's default pool (5 + 10
    # overflow) up to 7 CPUs (beyond, threads wait for a connection, as the default executor alone would past 11).
    delivery_threads = ThreadPoolExecutor(DELIVERY_DB_THREADS, thread_name_prefix="delivery-db")
    worker = DeliveryWorker(service, owner=settings.worker_id, lease_seconds=settings.delivery_lease_seconds,
                            outage=outages["database"], threads=delivery_threads)
    service.wake_delivery = worker.wake
    reminder_worker = ReminderWorker(service, owner=settings.worker_id, lease_seconds=settings.delivery_lease_seconds)
    scheduler = ReminderScheduler(reminder_worker, settings.reminder_poll_seconds, outage=outages["database"])
    service.wake_reminders = scheduler.wake
    app[SERVICE], app[WORKER], app[REMINDERS], app[OUTAGES] = service, worker, reminder_worker, outages
    app[EDGE] = TeamsEdge(AuthSettings(settings.app_id, settings.app_password),
                          StrategyMeetingBot(service, ConnectorMessenger(reply_client), outages))

    async def database_ok() -> bool:
        try:
            await asyncio.to_thread(repo.get_meeting, "healthz")
        except Exception as e:
            outages.report(e)
            return False
        outages["database"].recovered()
        return True

    app[HEALTH] = {"database": database_ok}
    task = asyncio.create_task(worker.run_forever(settings.delivery_poll_seconds), name="delivery")
    watcher = asyncio.create_task(CalendarWatcher(service, meetings).run_forever(settings.calendar_poll_seconds),
                                  name="calendar") if graph else None
    scheduler.start()  # its first run fires whatever fell due while no process was running
    from .retention import RetentionJob, retention_days
    retention = RetentionJob(settings.database_url, retention_days())  # the daily purge (bot/retention.py)
    retention.start()
    try:
        yield
    finally:
        scheduler.shutdown()
        retention.shutdown()
        await service.close()
        for t in (task, watcher):
            if t is None:
                continue
            t.cancel()
            try:
                await t
            except asyncio.CancelledError:
                pass
        if graph:
            await graph.close()
        await session.close()
        await asyncio.to_thread(delivery_threads.shutdown)
        await asyncio.to_thread(repo.close)
