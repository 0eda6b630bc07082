"""Which threads run a task's blocking database calls.

Every database call runs in a worker thread (the drivers block). By default that is the event
loop's default executor, shared by everything the process does. The delivery worker runs its
calls on threads of its own (`own_threads`, around a delivery pass): when 25 chairs pressed
Send at once, the worker's first claim waited about half a second in that one queue behind
their transactions, and every card of the fan-out waited with it; with its own threads it
claims as soon as the first Send commits, and the presses do not queue behind its lookups and
records either. The database connection pool must hold both sets of threads (wiring.py).

The choice is a context variable, so the tasks a delivery pass starts (a batch, its records)
inherit it, and the service's code (`ConversationService.db`) needs no argument to follow it.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_threads: contextvars.ContextVar[Executor | None] = contextvars.ContextVar("db_threads", default=None)


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in a thread of the current task's executor (as asyncio.to_thread
    does, context variables included)."""
    executor = _threads.get()
    if executor is None:
        return await asyncio.to_thread(fn, *args, **kwargs)
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(executor, call)


@contextmanager
def own_threads(executor: Executor | None) -> Iterator[None]:
    """Database calls made in this block, and in the tasks started in it, run on `executor`
    (None: the default executor)."""
    token = _threads.set(executor)
    try:
        yield
    finally:
        _threads.reset(token)
