"""The typed keys under which the aiohttp app holds its services (aiohttp's AppKey), in one
place so that the app factory, the wiring and the tests import them without importing
each other."""
from __future__ import annotations

from aiohttp import web

from .clock import Clock
from .settings import Settings

SETTINGS = web.AppKey("settings", Settings)
EDGE = web.AppKey("edge", object)         # bot.adapters.teams.hosting.TeamsEdge
CLOCK = web.AppKey("clock", Clock)       # what the service and repository take as now
OUTAGES = web.AppKey("outages", object)   # bot.outage.Outages, shared by the edge, workers and /healthz
HEALTH = web.AppKey("health", dict)       # name -> async check returning bool
SERVICE = web.AppKey("service", object)   # bot.service.ConversationService
WORKER = web.AppKey("worker", object)     # bot.delivery.DeliveryWorker
REMINDERS = web.AppKey("reminders", object)  # bot.reminding.ReminderWorker
