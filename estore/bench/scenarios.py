"""The scenarios `estore bench` runs, in a registry that later work adds to.

A scenario is a function of the running Bench that returns a Result; most build a Stream of
calls, measure it, and summarise. Register one with `@scenario(name, title)`; it then runs in
registry order (after the ones here) and `--scenarios NAME` picks it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from grpc_health.v1 import health_pb2

from estore.bench.baseline import HEALTH_CHECK
from estore.bench.client import Call, Stream
from estore.bench.measure import Bench, Result, summarise
from generated.estore.inventory.v1 import inventory_service_pb2 as inv_pb
from generated.estore.payments.v1 import payment_service_pb2 as pay_pb
from generated.estore.users.v1 import user_service_pb2 as users_pb

SERVICE_NAMES = {
    "users": users_pb.DESCRIPTOR.services_by_name["UserService"].full_name,
    "inventory": inv_pb.DESCRIPTOR.services_by_name["InventoryService"].full_name,
    "payments": pay_pb.DESCRIPTOR.services_by_name["PaymentService"].full_name,
}
CREATE_ORDER_REQUEST_ID = pay_pb.CreateOrderRequest.DESCRIPTOR.fields_by_name["request_id"].number
READ_PRODUCTS = 100  # GetProduct spreads over this many products
LIST_PAGE_SIZE = 50


@dataclass(frozen=True)
class Scenario:
    """A named measurement."""

    name: str
    title: str
    run: Callable[[Bench], Result]


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, title: str) -> Callable[[Callable[[Bench], Result]], Callable[..., Result]]:
    """Register the decorated function as the scenario `name`."""

    def register(run: Callable[[Bench], Result]) -> Callable[[Bench], Result]:
        SCENARIOS[name] = Scenario(name, title, run)
        return run

    return register


def rpc(bench: Bench, service: str, method: str, request: object, **options: object) -> Call:
    """A Call of `service`'s `method` with `request` serialized once."""
    serialize: Callable[[], bytes] = request.SerializeToString  # type: ignore[attr-defined]
    return Call(
        label=method,
        target=bench.stack.targets[service],
        method=f"/{SERVICE_NAMES[service]}/{method}",
        request=serialize(),
        **options,  # type: ignore[arg-type]
    )


def get_product_calls(bench: Bench, weight: int = 1) -> list[Call]:
    """GetProduct, anonymous, spread over READ_PRODUCTS products."""
    return [
        rpc(
            bench,
            "inventory",
            "GetProduct",
            inv_pb.GetProductRequest(product_id=pid),
            weight=weight,
        )
        for pid in bench.shop.product_ids[:READ_PRODUCTS]
    ]


def list_products_call(bench: Bench, weight: int = 1) -> Call:
    """ListProducts, anonymous: a page of 50 filtered by one tag."""
    request = inv_pb.ListProductsRequest(
        filter=inv_pb.ProductFilter(tags=[bench.shop.listed_tag]), page_size=LIST_PAGE_SIZE
    )
    return rpc(bench, "inventory", "ListProducts", request, weight=weight)


def current_user_call(bench: Bench, weight: int = 1) -> Call:
    """GetCurrentUser as the signed-in shopper."""
    request = users_pb.GetCurrentUserRequest()
    return rpc(
        bench, "users", "GetCurrentUser", request, metadata=bench.shop.shopper, weight=weight
    )


def create_order_call(bench: Bench, weight: int = 1) -> Call:
    """CreateOrder of one unit, paid at once by card, with a request id of its own each time."""
    request = pay_pb.CreateOrderRequest(
        product_id=bench.shop.order_product_id,
        quantity=1,
        payment_method_id=bench.shop.payment_method_id,
    )
    return rpc(
        bench, "payments", "CreateOrder", request,
        metadata=bench.shop.shopper, weight=weight, unique_field=CREATE_ORDER_REQUEST_ID,
    )  # fmt: skip


def create_basket_call(bench: Bench, weight: int = 1) -> Call:
    """CreateOrder of a three-line basket, one unit each, paid at once by card, with a request
    id of its own each time."""
    request = pay_pb.CreateOrderRequest(
        items=[pay_pb.LineItem(product_id=p, quantity=1) for p in bench.shop.basket_product_ids],
        payment_method_id=bench.shop.payment_method_id,
    )
    return rpc(
        bench, "payments", "CreateOrder", request,
        metadata=bench.shop.shopper, weight=weight, unique_field=CREATE_ORDER_REQUEST_ID,
    )  # fmt: skip


def health_check_call(bench: Bench, server: str = "baseline") -> Call:
    """Health/Check of the baseline server, or of a floor server (which does its work first)."""
    return Call(
        label="Health/Check",
        target=bench.stack.targets[server],
        method=HEALTH_CHECK,
        request=health_pb2.HealthCheckRequest().SerializeToString(),
    )


def closed_loop(
    bench: Bench, name: str, title: str, calls: Sequence[Call], target: float | None = None
) -> Result:
    """Measure `calls` kept `bench.concurrency` in flight; figures per call."""
    bench.say(f"{title}: measuring ...")
    measured = bench.measure([Stream(name, tuple(calls), bench.concurrency)])
    return summarise(bench, name, title, measured, name, target)


def measure_baseline(bench: Bench, when: str) -> Result:
    """The bare grpc.aio server's Health/Check: what every ratio is a share of."""
    title = f"Baseline, {when}: bare Health/Check"
    return closed_loop(bench, "baseline", title, [health_check_call(bench)])


@scenario("get_product", "GetProduct")
def get_product(bench: Bench) -> Result:
    return closed_loop(bench, "get_product", "GetProduct", get_product_calls(bench), 0.75)


@scenario("list_products", "ListProducts (50 per page, one tag)")
def list_products(bench: Bench) -> Result:
    title = SCENARIOS["list_products"].title
    return closed_loop(bench, "list_products", title, [list_products_call(bench)], 0.50)


@scenario("get_current_user", "GetCurrentUser")
def get_current_user(bench: Bench) -> Result:
    calls = [current_user_call(bench)]
    return closed_loop(bench, "get_current_user", "GetCurrentUser", calls, 0.45)


@scenario("login", "Login (share of the bcrypt ceiling)")
def login(bench: Bench) -> Result:
    from estore.bench.login import measure_login  # its own module: the ceiling and the probes

    return measure_login(bench, SCENARIOS["login"].title, target=0.90)


@scenario("create_order", "CreateOrder (card, distinct request ids)")
def create_order(bench: Bench) -> Result:
    title = SCENARIOS["create_order"].title
    return closed_loop(bench, "create_order", title, [create_order_call(bench)], 0.35)


@scenario("create_order_basket", "CreateOrder, 3-line basket (card)")
def create_order_basket(bench: Bench) -> Result:
    title = SCENARIOS["create_order_basket"].title
    return closed_loop(bench, "create_order_basket", title, [create_basket_call(bench)])


@scenario("mixed_shop", "Mixed shop (mostly reads)")
def mixed_shop(bench: Bench) -> Result:
    products = len(bench.shop.product_ids[:READ_PRODUCTS])
    reads = get_product_calls(bench, weight=700 // products)  # 70 % of the 1000 below
    calls = [
        *reads,
        list_products_call(bench, weight=150),
        current_user_call(bench, weight=100),
        create_order_call(bench, weight=50),
    ]
    return closed_loop(bench, "mixed_shop", SCENARIOS["mixed_shop"].title, calls)


# The floors (estore.bench.floors): bare servers doing only the store read or the hop an RPC of
# that kind cannot avoid; no target, they say how far a target is from what the design allows.
FLOOR_TITLES = {
    "floor_redis": "Floor: gRPC + one Redis HMGET",
    "floor_postgres": "Floor: gRPC + one PostgreSQL SELECT",
    "floor_two_hops": "Floor: a two-hop call",
    "floor_order": "Floor: an order's I/O",
    "floor_order_batched": "Floor: an order's I/O, batched hops",
}


def floor(bench: Bench, name: str) -> Result:
    """Measure the floor server `name` (its target is its scenario's name)."""
    return closed_loop(bench, name, SCENARIOS[name].title, [health_check_call(bench, name)])


for _name, _title in FLOOR_TITLES.items():
    scenario(_name, _title)(functools.partial(floor, name=_name))
