"""The worker's database calls: retried while the database is down, and grouped per transaction.

Many attempts claim and finish at once in a busy worker. One transaction each (a pooled
connection's ping, the statements, a commit that waits for the WAL flush) kept the worker's few
database threads queueing, so a no-op run waited hundreds of milliseconds to be claimed. A
GroupCall hands everything that arrived while the previous call ran to a single call instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)
T = TypeVar("T")
In = TypeVar("In")
Out = TypeVar("Out")
#: Enough for a whole poll of the largest worker; a bigger group would only hold its locks longer.
MAX_GROUP = 128


#: How a database call gets its thread: asyncio.to_thread, or a worker's ForkGate.call.
Threaded = Callable[..., Awaitable[Any]]


async def db_retry(
    fn: Callable[..., T], *args: Any, what: str, run: Threaded = asyncio.to_thread
) -> T:
    """Run a database call in a thread, retrying while the orchestrator database is unreachable."""
    result: T = await retry_while_db_down(lambda: run(fn, *args), what=what)
    return result


async def retry_while_db_down(call: Callable[[], Awaitable[T]], *, what: str) -> T:
    """Our own database's trouble is infrastructure: it must never count as the job's attempt."""
    delay = 0.5
    while True:
        try:
            return await call()
        except (OperationalError, DBAPIError) as error:
            if isinstance(error, DBAPIError) and not (
                isinstance(error, OperationalError) or error.connection_invalidated
            ):
                raise
            log.warning("database unavailable while %s: %s; retrying in %.1f s", what, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


class GroupCall(Generic[In, Out]):
    """`await group(item)` runs `many(items)` for every item that arrived meanwhile, in one call.

    An idle group calls at once, so a lone item waits for nothing. `many` returns one result per
    item, in order. If a group fails for any reason but an unreachable database (which is
    retried), its items are tried one by one, so a single bad item fails only its own caller.
    """

    def __init__(
        self,
        many: Callable[[Sequence[In]], list[Out]],
        *,
        what: str,
        run: Threaded = asyncio.to_thread,
    ) -> None:
        self.many = many
        self.what = what
        self.run = run
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def __call__(self, item: In) -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        try:
            while self._waiting:
                group = self._waiting[:MAX_GROUP]
                del self._waiting[:MAX_GROUP]
                await self._call(group)
        finally:
            self._drainer = None

    async def _call(self, group: list[tuple[In, asyncio.Future[Out]]]) -> None:
        items = [item for item, _ in group]
        try:
            results = await db_retry(self.many, items, what=self.what, run=self.run)
        except Exception as error:
            if len(group) == 1:
                _settle(group[0][1], error=error)
                return
            log.warning("%s: a group of %d failed (%s); one by one", self.what, len(group), error)
            for one in group:
                await self._call([one])
            return
        for (_, future), result in zip(group, results, strict=True):
            _settle(future, result=result)


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, error: Exception | None = None
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
