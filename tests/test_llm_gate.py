"""The request gate: at most ``limit`` in flight, follow-ups before first tries, cancellation loses no slot."""

from __future__ import annotations

import asyncio

import pytest

from topicmap.hierarchy.llm.gate import FIRST_TRY, FOLLOW_UP, PriorityGate


def test_waiters_are_served_follow_ups_first_then_by_arrival() -> None:
    async def scenario() -> list[str]:
        gate = PriorityGate(1)
        order: list[str] = []
        await gate.acquire()  # held while the others queue up

        async def ask(name: str, priority: int) -> None:
            async with gate.slot(priority):
                order.append(name)
                await asyncio.sleep(0)

        tasks = [asyncio.create_task(ask(n, p)) for n, p in [("a", FIRST_TRY), ("b", FIRST_TRY), ("retry-x", FOLLOW_UP), ("c", FIRST_TRY), ("retry-y", FOLLOW_UP)]]
        await asyncio.sleep(0)
        gate.release()
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(scenario()) == ["retry-x", "retry-y", "a", "b", "c"]


def test_never_more_than_the_limit_in_flight_and_a_cancelled_waiter_loses_no_slot() -> None:
    async def scenario() -> tuple[int, int]:
        gate = PriorityGate(2)
        inside = peak = 0

        async def work() -> None:
            nonlocal inside, peak
            async with gate.slot():
                inside += 1
                peak = max(peak, inside)
                try:
                    await asyncio.sleep(0.001)
                finally:
                    inside -= 1

        doomed = [asyncio.create_task(work()) for _ in range(3)]
        others = [asyncio.create_task(work()) for _ in range(20)]
        await asyncio.sleep(0)
        for task in doomed:
            task.cancel()
        await asyncio.gather(*others)
        await asyncio.gather(*doomed, return_exceptions=True)
        await gate.acquire()  # both slots are free again
        await gate.acquire()
        return peak, len(gate._waiting)

    peak, waiting = asyncio.run(scenario())
    assert peak == 2 and waiting == 0


def test_a_gate_needs_room_for_one_request() -> None:
    with pytest.raises(ValueError, match="at least one"):
        PriorityGate(0)
