"""The batcher behind Payments' Inventory calls: who rides together, and who learns what."""

from __future__ import annotations

import asyncio

import pytest

from estore.payments.inventory_batch import Batcher, Slots


class Lapsed(Exception):
    pass


class FakeInventory:
    """Answers each batch once released; `n` asks for twice n, a negative n fails its entry."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.timeouts: list[float] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, entries: list[int], within: float) -> list[int | BaseException]:
        self.batches.append(entries)
        self.timeouts.append(within)
        await self.gate.wait()
        return [2 * n if n >= 0 else ValueError(f"entry {n}") for n in entries]


def batcher(inventory: FakeInventory, entries: int = 100, in_flight: int = 1) -> Batcher[int, int]:
    return Batcher(inventory.send, Lapsed, max_entries=entries, max_in_flight=in_flight)


async def test_calls_made_together_ride_in_one_batch_in_order() -> None:
    inventory = FakeInventory()
    batches = batcher(inventory, in_flight=2)
    answers = await asyncio.gather(*(batches.call(n, 5) for n in range(4)))
    assert answers == [0, 2, 4, 6]
    assert inventory.batches == [[0, 1, 2, 3]]


async def test_calls_made_while_a_batch_is_out_leave_together_when_it_returns() -> None:
    inventory = FakeInventory()
    inventory.gate.clear()
    batches = batcher(inventory)
    first = asyncio.create_task(batches.call(1, 5))
    await asyncio.sleep(0)
    later = [asyncio.create_task(batches.call(n, 5)) for n in (2, 3, 4)]
    await asyncio.sleep(0.01)
    assert inventory.batches == [[1]]  # the others wait for the slot, without a timer
    inventory.gate.set()
    assert [await first] + [await task for task in later] == [2, 4, 6, 8]
    assert inventory.batches == [[1], [2, 3, 4]]


async def test_a_batch_holds_at_most_max_entries() -> None:
    inventory = FakeInventory()
    batches = batcher(inventory, entries=2, in_flight=1)
    assert await asyncio.gather(*(batches.call(n, 5) for n in range(5))) == [0, 2, 4, 6, 8]
    assert inventory.batches == [[0, 1], [2, 3], [4]]


async def test_at_most_max_in_flight_batches_are_out_at_once() -> None:
    inventory = FakeInventory()
    inventory.gate.clear()
    batches = batcher(inventory, entries=1, in_flight=2)
    tasks = [asyncio.create_task(batches.call(n, 5)) for n in range(4)]
    await asyncio.sleep(0.01)
    assert len(inventory.batches) == 2
    inventory.gate.set()
    assert [await task for task in tasks] == [0, 2, 4, 6]


async def test_an_entry_error_reaches_its_own_caller_only() -> None:
    batches = batcher(FakeInventory())
    outcomes = await asyncio.gather(
        batches.call(1, 5), batches.call(-1, 5), batches.call(3, 5), return_exceptions=True
    )
    assert outcomes[0] == 2
    assert outcomes[2] == 6
    assert isinstance(outcomes[1], ValueError)


async def test_a_failed_batch_fails_each_of_its_callers() -> None:
    async def down(entries: list[int], within: float) -> list[int]:
        raise ConnectionError("inventory is down")

    batches: Batcher[int, int] = Batcher(down, Lapsed, max_entries=10, max_in_flight=1)
    outcomes = await asyncio.gather(*(batches.call(n, 5) for n in range(3)), return_exceptions=True)
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)


async def test_a_cancelled_caller_leaves_the_others_batch_alone() -> None:
    inventory = FakeInventory()
    inventory.gate.clear()
    batches = batcher(inventory)
    out = [asyncio.create_task(batches.call(n, 5)) for n in (1, 2)]
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(batches.call(n, 5)) for n in (3, 4)]
    await asyncio.sleep(0.01)
    out[0].cancel()
    waiting[0].cancel()  # cancelled before its batch left: never sent
    await asyncio.sleep(0)
    inventory.gate.set()
    assert await out[1] == 4
    assert await waiting[1] == 8
    assert inventory.batches == [[1, 2], [4]]
    for task in (out[0], waiting[0]):
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_batch_takes_its_tightest_deadline_and_a_lapsed_call_is_not_sent() -> None:
    inventory = FakeInventory()
    inventory.gate.clear()
    batches = batcher(inventory)
    first = asyncio.create_task(batches.call(1, 5))
    await asyncio.sleep(0)
    lapsing = asyncio.create_task(batches.call(2, 0.01))
    tight = asyncio.create_task(batches.call(3, 2))
    loose = asyncio.create_task(batches.call(4, 9))
    await asyncio.sleep(0.05)  # `lapsing` waits past its deadline for the slot
    inventory.gate.set()
    with pytest.raises(Lapsed):
        await lapsing
    assert (await first, await tight, await loose) == (2, 6, 8)
    assert inventory.batches == [[1], [3, 4]]
    assert 1.8 < inventory.timeouts[1] <= 2


async def test_batchers_sharing_slots_take_turns_oldest_waiting_first() -> None:
    reserves, commits = FakeInventory(), FakeInventory()
    reserves.gate.clear()
    slots = Slots(1)
    reserve = Batcher(reserves.send, Lapsed, max_entries=10, slots=slots)
    commit = Batcher(commits.send, Lapsed, max_entries=10, slots=slots)
    first = asyncio.create_task(reserve.call(1, 5))
    await asyncio.sleep(0)
    # The slot is out with the reserve: a commit waits for it, then reserves made after it.
    waiting = [asyncio.create_task(commit.call(2, 5))]
    await asyncio.sleep(0)
    waiting += [asyncio.create_task(reserve.call(n, 5)) for n in (3, 4)]
    waiting.append(asyncio.create_task(commit.call(5, 5)))
    await asyncio.sleep(0.01)
    assert (reserves.batches, commits.batches) == ([[1]], [])
    commits.gate.clear()
    reserves.gate.set()
    assert await first == 2
    await asyncio.sleep(0.01)
    assert (reserves.batches, commits.batches) == ([[1]], [[2, 5]])  # its call waited longest
    commits.gate.set()
    assert [await task for task in waiting] == [4, 6, 8, 10]
    assert reserves.batches == [[1], [3, 4]]
