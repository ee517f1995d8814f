"""The floors: bare grpc.aio servers doing the least an EStore RPC of each kind must do.

Run as `python -m estore.bench.floors KIND PORT ARG...`; each serves Health/Check on
127.0.0.1:PORT until SIGTERM, with no EStore code (no interceptor, auth, logging, metrics or store
layer; the batched order floor borrows PaymentService's batcher, and nothing else):

  redis URL          each call runs one HMGET (redis-py asyncio, hiredis) on a small hash;
  postgres URL       each call runs one SELECT by primary key through a psycopg pool;
  two_hops TARGET    each call makes one bare gRPC call (Health/Check) to TARGET;
  bare -             each call answers at once (the two-hop floor's backend);
  order URL TARGET   each call does the I/O of one paid CreateOrder, in its order: a Redis round
                     trip (the request id's claim), a call to TARGET (the hold), two round trips
                     (the order's write, the charge), a call to TARGET (the sale), a round trip
                     (PAID); TARGET is the Redis floor, one round trip a call, as Inventory's
                     hold and sale are one script each;
  order_batched URL TARGET   the same, with the holds and the sales batched as PaymentService
                     batches them (estore.payments.inventory_batch: calls made while one is out
                     leave together in the next, one out at a time): a batch is one call.

Each answers SERVING, a small message. What an RPC reading Redis once, reading PostgreSQL once
or calling another service costs beyond this is the cost of our own code; up to it, it is not.
The order floor batches nothing; the batched one rides concurrent holds and sales together as
PaymentService does, so between them they bound what an order's I/O costs. Both run an HMGET
where the services run scripts, and the batched one's backend one round trip per batch where
Inventory makes two for a batch of holds.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import grpc
import psycopg
import redis.asyncio
import uvloop
from grpc_health.v1 import health_pb2, health_pb2_grpc
from psycopg_pool import AsyncConnectionPool

from estore.payments.inventory_batch import Batcher, Slots
from estore.payments.inventory_client import MAX_BATCH

REDIS_KEY = "bench:floor:item"
REDIS_FIELDS = ("name", "price", "quantity", "currency")
FLOOR_ROW_ID = 1
POOL_MAX_SIZE = 10  # as UserService's pool
HOP_TIMEOUT_SECONDS = 5.0
SERVING = health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)
_CREATE = (
    "CREATE TABLE IF NOT EXISTS floor_row (id bigint PRIMARY KEY, email text NOT NULL,"
    " is_active boolean NOT NULL, is_verified boolean NOT NULL, is_admin boolean NOT NULL,"
    " created_at timestamptz NOT NULL, updated_at timestamptz)"
)
_INSERT = (
    "INSERT INTO floor_row VALUES (%s, 'floor@bench.example', true, true, false, now(), NULL)"
    " ON CONFLICT (id) DO NOTHING"
)
_SELECT = (
    "SELECT id, email, is_active, is_verified, is_admin, created_at, updated_at"
    " FROM floor_row WHERE id = %s"
)

Work = Callable[[], Awaitable[object]]


class FloorHealth(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """Health/Check that does `work` once, then answers SERVING."""

    def __init__(self, work: Work) -> None:
        self._work = work

    async def Check(self, request: Any, context: Any) -> health_pb2.HealthCheckResponse:  # noqa: N802 - grpc's name
        await self._work()
        return SERVING


async def redis_work(url: str, stack: AsyncExitStack) -> Work:
    """One HMGET of a four-field hash, written once here."""
    client = redis.asyncio.Redis.from_url(url)
    stack.push_async_callback(client.aclose)
    await client.hset(REDIS_KEY, mapping={field: f"{field}-value" for field in REDIS_FIELDS})

    async def work() -> object:
        return await client.hmget(REDIS_KEY, REDIS_FIELDS)

    return work


async def postgres_work(url: str, stack: AsyncExitStack) -> Work:
    """One SELECT by primary key of a row shaped like an account, in a pool of connections."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        await connection.execute(_CREATE)
        await connection.execute(_INSERT, (FLOOR_ROW_ID,))
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url, open=False, max_size=POOL_MAX_SIZE, kwargs={"autocommit": True}
    )
    await pool.open(wait=True)
    stack.push_async_callback(pool.close)

    async def work() -> object:
        async with pool.connection() as connection:
            cursor = await connection.execute(_SELECT, (FLOOR_ROW_ID,))
            return await cursor.fetchone()

    return work


async def two_hops_work(target: str, stack: AsyncExitStack) -> Work:
    """One bare gRPC call to `target`'s Health/Check, with a deadline, on one channel."""
    channel = grpc.aio.insecure_channel(target)
    stack.push_async_callback(channel.close)
    check = health_pb2_grpc.HealthStub(channel).Check
    request = health_pb2.HealthCheckRequest()

    async def work() -> object:
        return await check(request, timeout=HOP_TIMEOUT_SECONDS)

    return work


def _order(store: Work, hold: Work, sale: Work) -> Work:
    """One paid order's I/O, in the saga's order: four Redis round trips, the hold and the sale."""

    async def work() -> object:
        await store()  # the request id's claim, with the card
        await hold()
        await store()  # the order's write
        await store()  # the charge
        await sale()
        return await store()  # PAID, with the request's outcome

    return work


async def order_work(url: str, target: str, stack: AsyncExitStack) -> Work:
    """One paid order's I/O: four Redis round trips and two calls to `target`, in turn."""
    hop = await two_hops_work(target, stack)
    return _order(await redis_work(url, stack), hop, hop)


async def batched_order_work(url: str, target: str, stack: AsyncExitStack) -> Work:
    """The order floor's I/O with its holds and sales batched: each batch one call to `target`."""
    hop = await two_hops_work(target, stack)

    async def send(entries: list[None], _: float) -> list[None]:
        await hop()
        return entries

    slots = Slots(1)  # one batch out at a time, whatever its kind, as InventoryClient's
    holds: Batcher[None, None] = Batcher(send, _late, max_entries=MAX_BATCH, slots=slots)
    sales: Batcher[None, None] = Batcher(send, _late, max_entries=MAX_BATCH, slots=slots)
    return _order(
        await redis_work(url, stack),
        lambda: holds.call(None, HOP_TIMEOUT_SECONDS),
        lambda: sales.call(None, HOP_TIMEOUT_SECONDS),
    )


def _late() -> BaseException:
    return TimeoutError("a floor call waited past its deadline for its batch")


async def bare_work(_: str, __: AsyncExitStack) -> Work:
    """Nothing: the bare backend the two-hop floor calls, on the same loop as the floors."""

    async def work() -> object:
        return None

    return work


# Each kind's work, made from its command line's arguments (and the stack that closes it).
KINDS: dict[str, Callable[..., Awaitable[Work]]] = {
    "bare": bare_work,
    "redis": redis_work,
    "postgres": postgres_work,
    "two_hops": two_hops_work,
    "order": order_work,
    "order_batched": batched_order_work,
}


async def serve(kind: str, port: int, arguments: Sequence[str]) -> None:
    """Serve the `kind` floor on 127.0.0.1:`port` until SIGTERM or SIGINT."""
    async with AsyncExitStack() as stack:
        work = await KINDS[kind](*arguments, stack)
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(FloorHealth(work), server)
        if server.add_insecure_port(f"127.0.0.1:{port}") == 0:
            raise OSError(f"cannot listen on 127.0.0.1:{port}")
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await server.stop(0)


if __name__ == "__main__":
    kind, port, *rest = sys.argv[1:]
    # The services' loop (ESTORE_EVENT_LOOP=uvloop, the default): a floor must not be slower
    # than the services only because it runs on the standard library's loop.
    factory = None if "--asyncio" in rest else uvloop.new_event_loop
    arguments = [argument for argument in rest if argument != "--asyncio"]
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(kind, int(port), arguments))
