"""The dispatcher's answer collector: answers that arrive together are stored in one transaction (group commit).

Each step request's coroutine hands its answer to the collector and awaits its outcome. When fewer than `at_once`
batches are being stored, the answer goes to a database thread at once, alone (no added latency, no timer).
Answers arriving while `at_once` batches are being stored queue; when one is done, everything queued (up to
`BATCH_MAX`) goes as the next batch, one transaction and one commit for all (`services.answers.
call_responses_apply`: each answer under its own lease token and generation, in a savepoint of its own). So
batches grow only when answers come faster than they commit, and one transaction's commit (its WAL flush and
round trips) is shared by the answers that waited for it.

`at_once` is half the dispatcher's database threads (the rest build requests): one batch at a time made every
answer wait for the one before it, and on a loaded machine (each round trip waiting for a core) that serial
line, not the CPU, bounded the steps per second (bench/engine.py: 0.65 of batching off).

Off (`ENGINE_ANSWER_BATCH=false`, or `Dispatcher(answer_batch=False)`): each answer in its own transaction on its
own database thread, as before; the benchmarks compare the two in one run (bench/step_cost.py, bench/engine.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from .outcomes import Outcome
from .services.answers import BATCH_MAX, BatchedAnswer, call_response_apply, call_responses_apply

logger = logging.getLogger(__name__)

DbRunner = Callable[..., Awaitable[Any]]  # StepLoop.db: runs synchronous database code on a database thread


class AnswerCollector:
    """Hands answers to `call_responses_apply` in batches; lives on the executor's loop (no locks: one thread)."""

    def __init__(
        self, db: DbRunner, *, enabled: bool | None = None, at_once: int = 1, batch_max: int = BATCH_MAX
    ) -> None:
        self._db = db
        self.enabled = settings.ENGINE_ANSWER_BATCH if enabled is None else enabled
        self.at_once = max(1, at_once)  # batches stored at the same time, each on a database thread of its own
        self.batch_max = max(1, min(batch_max, BATCH_MAX))
        self._queued: list[tuple[BatchedAnswer, asyncio.Future[Outcome]]] = []
        self._storing = 0  # batches on a database thread now
        self.batch_sizes: Counter[int] = Counter()  # batches stored, by their size (tests and benchmarks read it)

    @property
    def storing(self) -> int:
        """Batches being stored now (with `at_once` of them, answers arriving meanwhile wait for the next)."""
        return self._storing

    @property
    def queued(self) -> int:
        """Answers waiting for the next batch."""
        return len(self._queued)

    def log_summary(self) -> None:
        """One log line: the batches stored so far by size (bench/engine.py reads it from a stopped dispatcher)."""
        if self.enabled:
            logger.info(
                "answer batches", extra={"batch_sizes": {str(k): n for k, n in sorted(self.batch_sizes.items())}}
            )

    async def apply(self, answer: BatchedAnswer) -> Outcome:
        """Store `answer` (alone or with the others that arrived meanwhile) and return its outcome."""
        if not self.enabled:
            return await self._db(
                call_response_apply,
                item_id=answer.item_id,
                owner=answer.owner,
                response=answer.response,
                generation=answer.generation,
            )
        waiter: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queued.append((answer, waiter))
        if self._storing < self.at_once:
            self._storing += 1
            asyncio.get_running_loop().create_task(self._store_queued())
        return await waiter

    async def _store_queued(self) -> None:
        """Store what is queued, batch after batch, until nothing is (several of these may run: `at_once`)."""
        try:
            while self._queued:
                batch = [(answer, waiter) for answer, waiter in self._queued[: self.batch_max] if not waiter.done()]
                del self._queued[: self.batch_max]
                if batch:
                    await self._store(batch)
        finally:
            self._storing -= 1
            if not self._storing:  # answers are left only when the tasks were cancelled (the loop stopping)
                for _, waiter in self._queued:
                    if not waiter.done():
                        waiter.set_exception(RuntimeError("answer not stored: the dispatcher stopped"))
                self._queued.clear()

    async def _store(self, batch: list[tuple[BatchedAnswer, asyncio.Future[Outcome]]]) -> None:
        self.batch_sizes[len(batch)] += 1
        try:
            results = await self._db(call_responses_apply, [answer for answer, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} outcomes for {len(batch)} answers")
        except BaseException as error:  # the pool shut down, or this task cancelled: every waiter learns it
            for _, waiter in batch:
                if not waiter.done():
                    waiter.set_exception(error if isinstance(error, Exception) else RuntimeError("answer not stored"))
            if not isinstance(error, Exception):
                raise
            return
        for (_, waiter), result in zip(batch, results, strict=True):
            if waiter.done():  # its coroutine was cancelled meanwhile (a stop): the answer is stored all the same
                continue
            if isinstance(result, Exception):
                waiter.set_exception(result)
            else:
                waiter.set_result(result)
