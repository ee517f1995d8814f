"""Products over gRPC: create, get (counting views), update, delete, analytics, and their errors."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2

from estore.common.config import Settings
from estore.common.redis import connect_redis
from estore.embedded.ports import free_port
from estore.inventory import store_keys
from estore.inventory.app import create_service
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inventory_grpc
from tests.grpc.inventory.conftest import expect_error, usd
from tests.helpers import running_server

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND


async def test_create_product_returns_server_fields(stub, callers) -> None:
    product = pb.Product(
        name="  Trail Shoe ",
        price=usd(1999),
        quantity=7,
        tags=["Outdoor", "outdoor ", "Running"],
        image_url="https://img.example.com/shoe.png",
        min_stock_level=2,
        discount_percentage=15,
        description="light",
        created_by=999,  # output only: ignored
        reserved=5,  # output only: ignored
    )
    reply = await stub.CreateProduct(
        pb.CreateProductRequest(product=product), metadata=callers.admin
    )
    created = reply.product
    assert len(created.id) >= 16
    assert created.name == "Trail Shoe"
    assert created.created_by == 1  # the admin's user id, from the token
    assert (created.quantity, created.reserved) == (7, 0)
    assert list(created.tags) == ["outdoor", "running"]
    assert created.price == usd(1999)
    assert created.effective_price == usd(1699)  # 1999 * 0.85 = 1699.15
    assert created.created_at.seconds > 0
    assert not created.HasField("updated_at")


@pytest.mark.parametrize(
    ("price", "discount", "effective"),
    [(1, 50, 1), (3, 50, 2), (5, 10, 5), (1000, 100, 0), (999, 0, 999), (1050, 33, 704)],
)
async def test_effective_price_rounds_half_up(
    stub, callers, make_product, price, discount, effective
) -> None:
    created = await make_product(price=price, discount_percentage=discount)
    got = await stub.GetProduct(pb.GetProductRequest(product_id=created.id))
    assert got.product.effective_price.minor_units == effective


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "   "}, "product.name"),
        ({"name": "x" * 201}, "product.name"),
        ({"price": usd(-1)}, "product.price.minor_units"),
        ({"quantity": -1}, "product.quantity"),
        ({"tags": [f"t{i}" for i in range(21)]}, "product.tags"),
        ({"tags": ["x" * 51]}, "product.tags"),
        ({"image_url": "ftp://example.com/a.png"}, "product.image_url"),
        ({"image_url": "not a url"}, "product.image_url"),
        ({"discount_percentage": 101}, "product.discount_percentage"),
        ({"discount_percentage": -1}, "product.discount_percentage"),
        ({"min_stock_level": -1}, "product.min_stock_level"),
        ({"description": "d" * 5001}, "product.description"),
    ],
)
async def test_create_product_rejects_bad_fields(stub, callers, change, field) -> None:
    fields = {"name": "Widget", "price": usd(100), **change}
    details = await expect_error(
        stub.CreateProduct(
            pb.CreateProductRequest(product=pb.Product(**fields)), metadata=callers.admin
        ),
        INVALID,
        "INVALID_FIELD",
    )
    assert field in details.violated_fields


async def test_create_product_needs_a_price(stub, callers) -> None:
    details = await expect_error(
        stub.CreateProduct(
            pb.CreateProductRequest(product=pb.Product(name="Free?")), metadata=callers.admin
        ),
        INVALID,
        "INVALID_FIELD",
    )
    assert details.violated_fields == {"product.price"}


async def test_create_product_in_another_currency_is_currency_mismatch(stub, callers) -> None:
    euros = money_pb2.Money(currency_code="EUR", minor_units=100)
    details = await expect_error(
        stub.CreateProduct(
            pb.CreateProductRequest(product=pb.Product(name="Widget", price=euros)),
            metadata=callers.admin,
        ),
        INVALID,
        "CURRENCY_MISMATCH",
    )
    assert details.violated_fields == {"product.price.currency_code"}


async def test_create_product_in_a_missing_category_is_not_found(stub, callers) -> None:
    product = pb.Product(name="Widget", price=usd(100), category_id="nope")
    await expect_error(
        stub.CreateProduct(pb.CreateProductRequest(product=product), metadata=callers.admin),
        NOT_FOUND,
        "CATEGORY_NOT_FOUND",
    )


async def test_get_product_counts_views(stub, callers, make_product) -> None:
    created = await make_product()
    for _ in range(3):
        got = await stub.GetProduct(pb.GetProductRequest(product_id=created.id))
        assert got.product == created
    analytics = await stub.GetProductAnalytics(
        pb.GetProductAnalyticsRequest(product_id=created.id), metadata=callers.admin
    )
    assert analytics.analytics.views == 3
    assert analytics.analytics.last_viewed.seconds > 0
    assert analytics.analytics.stock_updates == 0


async def test_unknown_product_is_not_found(stub, callers) -> None:
    await expect_error(
        stub.GetProduct(pb.GetProductRequest(product_id="missing")), NOT_FOUND, "PRODUCT_NOT_FOUND"
    )
    await expect_error(
        stub.GetProductAnalytics(
            pb.GetProductAnalyticsRequest(product_id="missing"), metadata=callers.admin
        ),
        NOT_FOUND,
        "PRODUCT_NOT_FOUND",
    )
    await expect_error(
        stub.DeleteProduct(pb.DeleteProductRequest(product_id="missing"), metadata=callers.admin),
        NOT_FOUND,
        "PRODUCT_NOT_FOUND",
    )


async def _update(stub, callers, product: pb.Product, *paths: str):
    return await stub.UpdateProduct(
        pb.UpdateProductRequest(product=product, update_mask=field_mask_pb2.FieldMask(paths=paths)),
        metadata=callers.admin,
    )


async def test_update_product_changes_only_masked_fields(stub, callers, make_product) -> None:
    created = await make_product("Old name", 500, description="keep me", quantity=3)
    change = pb.Product(id=created.id, name="New name", price=usd(700), description="ignored")
    updated = (await _update(stub, callers, change, "name", "price")).product
    assert (updated.name, updated.price.minor_units) == ("New name", 700)
    assert updated.description == "keep me"
    assert updated.quantity == 3
    assert updated.HasField("updated_at")
    listed = await stub.ListProducts(pb.ListProductsRequest(filter=pb.ProductFilter(query="new")))
    assert [p.id for p in listed.products] == [created.id]
    listed = await stub.ListProducts(pb.ListProductsRequest(filter=pb.ProductFilter(query="old")))
    assert list(listed.products) == []


@pytest.mark.parametrize("paths", [(), ("quantity",), ("reserved",), ("nonsense",)])
async def test_update_product_rejects_bad_masks(stub, callers, make_product, paths) -> None:
    created = await make_product()
    details = await expect_error(
        _update(stub, callers, pb.Product(id=created.id, name="x"), *paths),
        INVALID,
        "INVALID_FIELD",
    )
    assert "update_mask" in details.violated_fields


async def test_update_product_errors(stub, callers, make_product) -> None:
    created = await make_product()
    await expect_error(
        _update(stub, callers, pb.Product(id="missing", name="x"), "name"),
        NOT_FOUND,
        "PRODUCT_NOT_FOUND",
    )
    await expect_error(
        _update(stub, callers, pb.Product(id=created.id, category_id="missing"), "category_id"),
        NOT_FOUND,
        "CATEGORY_NOT_FOUND",
    )
    details = await expect_error(
        _update(
            stub, callers, pb.Product(id=created.id, discount_percentage=120), "discount_percentage"
        ),
        INVALID,
        "INVALID_FIELD",
    )
    assert details.violated_fields == {"product.discount_percentage"}


async def test_delete_product_removes_it_everywhere(stub, callers, make_product) -> None:
    created = await make_product("Doomed", tags=["gone"], quantity=1)
    await stub.DeleteProduct(pb.DeleteProductRequest(product_id=created.id), metadata=callers.admin)
    await expect_error(
        stub.GetProduct(pb.GetProductRequest(product_id=created.id)),
        NOT_FOUND,
        "PRODUCT_NOT_FOUND",
    )
    for f in (pb.ProductFilter(), pb.ProductFilter(tags=["gone"]), pb.ProductFilter(in_stock=True)):
        assert list((await stub.ListProducts(pb.ListProductsRequest(filter=f))).products) == []


async def test_delete_product_with_live_reservation_is_refused(stub, callers, make_product) -> None:
    created = await make_product(quantity=5)
    await stub.ReserveStock(
        pb.ReserveStockRequest(product_id=created.id, quantity=1, reservation_id="order-1"),
        metadata=callers.service,
    )
    await expect_error(
        stub.DeleteProduct(pb.DeleteProductRequest(product_id=created.id), metadata=callers.admin),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PRODUCT_HAS_RESERVATIONS",
    )
    await stub.ReleaseReservation(
        pb.ReleaseReservationRequest(reservation_id="order-1"), metadata=callers.service
    )
    await stub.DeleteProduct(pb.DeleteProductRequest(product_id=created.id), metadata=callers.admin)


async def test_store_down_is_unavailable(token_verifier, callers, feed_env) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    definition = await create_service(
        Settings.from_env({"ESTORE_INVENTORY_REDIS_URL": dead, **feed_env}), sweep_interval=0.05
    )
    async with running_server(definition, token_verifier) as (_, channel):
        down = inventory_grpc.InventoryServiceStub(channel)
        await expect_error(
            down.GetProduct(pb.GetProductRequest(product_id="p")),
            grpc.StatusCode.UNAVAILABLE,
            "STORE_UNAVAILABLE",
        )
        await expect_error(
            down.ReserveStock(
                pb.ReserveStockRequest(product_id="p", quantity=1), metadata=callers.service
            ),
            grpc.StatusCode.UNAVAILABLE,
            "STORE_UNAVAILABLE",
        )


async def test_missing_ids_are_invalid(stub, callers) -> None:
    for call, field in (
        (stub.GetProduct(pb.GetProductRequest()), "product_id"),
        (stub.DeleteProduct(pb.DeleteProductRequest(), metadata=callers.admin), "product_id"),
        (
            stub.GetProductAnalytics(pb.GetProductAnalyticsRequest(), metadata=callers.admin),
            "product_id",
        ),
        (stub.GetCategory(pb.GetCategoryRequest()), "category_id"),
        (
            stub.CommitReservation(pb.CommitReservationRequest(), metadata=callers.service),
            "reservation_id",
        ),
    ):
        details = await expect_error(call, INVALID, "INVALID_FIELD")
        assert details.violated_fields == {field}


async def test_views_are_saved_at_a_clean_shutdown(
    redis_url: str, token_verifier, feed_env: dict[str, str], callers
) -> None:
    settings = Settings.from_env({"ESTORE_INVENTORY_REDIS_URL": redis_url, **feed_env})
    async with running_server(await create_service(settings), token_verifier) as (_, channel):
        stub = inventory_grpc.InventoryServiceStub(channel)
        product = pb.Product(name="Viewed", price=usd(100))
        created = await stub.CreateProduct(
            pb.CreateProductRequest(product=product), metadata=callers.admin
        )
        for _ in range(4):
            await stub.GetProduct(pb.GetProductRequest(product_id=created.product.id))
    # The server has stopped: read what it left in Redis.
    async with connect_redis(redis_url, "test") as redis:
        views = await redis.hget(store_keys.analytics(created.product.id), "views")
    assert views == b"4"
