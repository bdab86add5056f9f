"""How many requests are in flight at once, and which waiting request goes next.

A label or extraction run starts a task for every node at once and lets ``--concurrency`` of them
talk to the server. With a plain semaphore the queue is first come, first served, so a retry (an
answer that broke a rule, asked again with the reason) waits behind every other node's first try:
on a local model that answers once a minute, a run of 300 nodes asks all 300 first questions before
any retry, and a node that needs one stores nothing for hours, which an interrupted run then loses.
:class:`PriorityGate` serves follow-ups first, so a node that has started is finished next.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

FIRST_TRY = 1
FOLLOW_UP = 0  # a retry or any later request about something already asked: served before first tries


class PriorityGate:
    """An async semaphore whose waiters are served by (priority, arrival): lower priority first."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"at least one request must be allowed in flight, not {limit}")
        self._free = limit
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    async def acquire(self, priority: int = FIRST_TRY) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._arrivals), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # the slot was handed over as we were cancelled: pass it on
            raise

    def release(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():  # a cancelled waiter's future is done: skip it
                turn.set_result(None)
                return
        self._free += 1

    def slot(self, priority: int = FIRST_TRY) -> _Slot:
        """``async with gate.slot(priority):`` holds one place for the block."""
        return _Slot(self, priority)


class _Slot:
    def __init__(self, gate: PriorityGate, priority: int) -> None:
        self.gate = gate
        self.priority = priority

    async def __aenter__(self) -> None:
        await self.gate.acquire(self.priority)

    async def __aexit__(self, *exc: object) -> None:
        self.gate.release()


__all__ = ["FIRST_TRY", "FOLLOW_UP", "PriorityGate"]
