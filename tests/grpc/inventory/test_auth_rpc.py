"""Who may call what: reads are public, writes need an admin, reservations the service role."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2

from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from tests.grpc.inventory.conftest import expect_error, usd
from tests.helpers import bearer

DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
MASK = field_mask_pb2.FieldMask(paths=["name"])

ADMIN, SERVICE = "ADMIN_REQUIRED", "SERVICE_ROLE_REQUIRED"
PRODUCT = pb.Product(id="p", name="x", price=usd(1))
CATEGORY = pb.Category(id="c", name="x")
# (RPC, request, the reason a plain user gets) for every RPC that needs a role.
GUARDED = [
    ("CreateProduct", pb.CreateProductRequest(product=PRODUCT), ADMIN),
    ("UpdateProduct", pb.UpdateProductRequest(product=PRODUCT, update_mask=MASK), ADMIN),
    ("DeleteProduct", pb.DeleteProductRequest(product_id="p"), ADMIN),
    ("AdjustStock", pb.AdjustStockRequest(product_id="p", delta=1), ADMIN),
    ("GetProductAnalytics", pb.GetProductAnalyticsRequest(product_id="p"), ADMIN),
    ("CreateCategory", pb.CreateCategoryRequest(category=CATEGORY), ADMIN),
    ("UpdateCategory", pb.UpdateCategoryRequest(category=CATEGORY, update_mask=MASK), ADMIN),
    ("DeleteCategory", pb.DeleteCategoryRequest(category_id="c"), ADMIN),
    ("ReserveStock", pb.ReserveStockRequest(product_id="p", quantity=1), SERVICE),
    ("CommitReservation", pb.CommitReservationRequest(reservation_id="r"), SERVICE),
    ("ReleaseReservation", pb.ReleaseReservationRequest(reservation_id="r"), SERVICE),
]
IDS = [name for name, _, _ in GUARDED]


@pytest.mark.parametrize(("rpc", "request_", "reason"), GUARDED, ids=IDS)
async def test_plain_user_is_permission_denied(stub, callers, rpc, request_, reason) -> None:
    await expect_error(getattr(stub, rpc)(request_, metadata=callers.user), DENIED, reason)


@pytest.mark.parametrize(("rpc", "request_", "reason"), GUARDED, ids=IDS)
async def test_no_token_is_unauthenticated(stub, rpc, request_, reason) -> None:
    await expect_error(getattr(stub, rpc)(request_), UNAUTHENTICATED, "AUTH_TOKEN_MISSING")


async def test_service_may_not_write_the_catalogue(stub, callers) -> None:
    request = pb.CreateProductRequest(product=pb.Product(name="x", price=usd(1)))
    await expect_error(
        stub.CreateProduct(request, metadata=callers.service), DENIED, "ADMIN_REQUIRED"
    )


async def test_watch_needs_admin_or_service(stub, callers) -> None:
    for metadata, code, reason in (
        (callers.user, DENIED, "ADMIN_REQUIRED"),
        ((), UNAUTHENTICATED, "AUTH_TOKEN_MISSING"),
    ):
        call = stub.WatchInventory(pb.WatchInventoryRequest(), metadata=metadata)
        await expect_error(call.read(), code, reason)


async def test_admin_and_service_may_adjust_stock(stub, callers, make_product) -> None:
    created = await make_product(quantity=1)
    for metadata in (callers.admin, callers.service):
        reply = await stub.AdjustStock(
            pb.AdjustStockRequest(product_id=created.id, delta=2), metadata=metadata
        )
    assert reply.product.quantity == 5


async def test_admin_may_reserve(stub, callers, make_product) -> None:
    created = await make_product(quantity=1)
    reply = await stub.ReserveStock(
        pb.ReserveStockRequest(product_id=created.id, quantity=1), metadata=callers.admin
    )
    assert reply.reservation.state == pb.RESERVATION_STATE_HELD


async def test_reads_are_public_but_a_bad_token_is_still_refused(stub, make_product) -> None:
    created = await make_product()
    assert (await stub.GetProduct(pb.GetProductRequest(product_id=created.id))).product.id
    assert (await stub.ListProducts(pb.ListProductsRequest())).products
    assert not (await stub.ListCategories(pb.ListCategoriesRequest())).categories
    await expect_error(
        stub.GetProduct(pb.GetProductRequest(product_id=created.id), metadata=bearer("forged")),
        UNAUTHENTICATED,
        "AUTH_TOKEN_INVALID",
    )
