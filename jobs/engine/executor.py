"""The dispatcher's executor: step requests on one asyncio loop, database work on a few threads beside it.

A step request in flight costs a coroutine and a pooled connection, not a thread, so what bounds the requests in
flight is the functions' concurrency limits and the dispatcher's `ENGINE_MAX_IN_FLIGHT`, never a worker count.
The engine's database code (claims, building requests, applying answers) stays synchronous Django code; it runs
off the loop in a small thread pool (`ENGINE_WORKERS` threads, each with its own connection), so a slow query
holds one of those threads, never the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from django.conf import settings
from django.db import close_old_connections, connections
from django.db.backends.signals import connection_created

from .queries import statement

T = TypeVar("T")

_IDLE_TIMEOUT_SET_SQL = statement("idle_transaction_timeout_set")


class StepLoop:
    """An asyncio loop on a thread of its own, an `aiohttp.ClientSession` on it, and a thread pool for the database."""

    def __init__(self, *, db_threads: int, max_connections: int, timeout: float, connect_timeout: float = 10) -> None:
        self.db_threads = max(db_threads, 1)
        self._db = concurrent.futures.ThreadPoolExecutor(self.db_threads, thread_name_prefix="engine-db")
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engine-loop", daemon=True)
        self._tasks: set[concurrent.futures.Future] = set()
        self._tasks_lock = threading.Lock()
        self._max_connections = max_connections
        # `timeout` bounds a whole request (ENGINE_STEP_TIMEOUT), `connect_timeout` its connection.
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self.http: aiohttp.ClientSession  # made on the loop, which aiohttp binds it to (`_run`)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self.http = self._loop.run_until_complete(self._session())
        self._ready.set()
        self._loop.run_forever()

    async def _session(self) -> aiohttp.ClientSession:
        # A connection per request (force_close): gunicorn's gthread workers run with keep-alive off
        # (nurturehub/gunicorn_conf.py), and with httpx keep-alive measured dearer for the dispatcher with hundreds
        # of requests in flight (jobs/engine/step_call.py); not measured again with aiohttp.
        connector = aiohttp.TCPConnector(limit=self._max_connections, force_close=True)
        return aiohttp.ClientSession(connector=connector, timeout=self._timeout)

    def submit(self, coroutine: Coroutine[Any, Any, Any]) -> concurrent.futures.Future:
        """Run a coroutine on the loop (from any thread); it is awaited, or cancelled, by `stop()`."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        with self._tasks_lock:
            self._tasks.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: concurrent.futures.Future) -> None:
        with self._tasks_lock:
            self._tasks.discard(future)

    async def db(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run synchronous database code on the pool; a failure drops that thread's connection if it broke."""
        return await self._loop.run_in_executor(self._db, lambda: _with_connection_check(function, args, kwargs))

    def stop(self, timeout: float) -> None:
        """Wait up to `timeout` for the coroutines in flight, cancel the rest, close the client and the pool."""
        if not self._ready.is_set():
            return
        with self._tasks_lock:
            pending = list(self._tasks)
        _, not_done = concurrent.futures.wait(pending, timeout=timeout)
        for future in not_done:
            future.cancel()
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.http.close(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._close_db_connections()
        self._db.shutdown(wait=True, cancel_futures=True)

    def _close_db_connections(self) -> None:
        """Close each pool thread's own connection (Django's are per thread): one task per thread, held apart."""
        barrier = threading.Barrier(self.db_threads)

        def close() -> None:
            connections.close_all()
            try:
                barrier.wait(timeout=5)
            except threading.BrokenBarrierError:
                pass

        concurrent.futures.wait([self._db.submit(close) for _ in range(self.db_threads)], timeout=10)


def _with_connection_check(function: Callable[..., T], args: tuple, kwargs: dict) -> T:
    try:
        return function(*args, **kwargs)
    except Exception:
        close_old_connections()
        raise


@dataclass
class Lease:
    """A claim the dispatcher holds: its lease token, and when the lease runs out by this process's clock."""

    token: str
    expires: float  # time.monotonic()
    generation: int = 0  # the item's request it holds (fence.py): a claim of a later one never adopts it
    # Its request is over and its answer is being stored: the heartbeat still renews the lease (a backlog of
    # answers waiting for a database thread must not let it run out), but a claim of the item from now on is new
    # work (the answer was stored, or the lease was lost after all) and starts a request of its own.
    answered: bool = False


def _limit_idle_transactions(sender: object, connection: object, **kwargs: object) -> None:
    """A dispatcher's own sessions end a transaction left idle for a lease (a process frozen mid-claim).

    Claims and answers are short transactions with no network call inside; a dispatcher stopped by SIGSTOP (or
    paging) inside one would otherwise keep the claim lock and the item's row locks from every other dispatcher.
    A claim's transaction sets a far shorter limit for itself (services/claims.py `claim_idle_limit_ms`): the
    claim lock is what every dispatcher needs.
    """
    if not threading.current_thread().name.startswith("engine-"):
        return
    # A whole lease, not less: a live dispatcher starved of CPU (a loaded machine) pauses between the statements of
    # its answers too, and half a lease (2.5 s in tests) killed those sessions mid-answer in a loaded `make test`.
    timeout_ms = max(int(settings.ENGINE_LEASE_SECONDS * 1000), 1000)
    with connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute(_IDLE_TIMEOUT_SET_SQL, [str(timeout_ms)])


connection_created.connect(_limit_idle_transactions, dispatch_uid="engine-idle-transactions")
