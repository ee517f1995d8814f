"""Categories over gRPC: a tree with unique sibling names, no cycles, and safe deletes."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2

from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from tests.grpc.inventory.conftest import expect_error

NOT_FOUND = grpc.StatusCode.NOT_FOUND


async def _move(stub, callers, category_id: str, parent_id: str):
    return await stub.UpdateCategory(
        pb.UpdateCategoryRequest(
            category=pb.Category(id=category_id, parent_id=parent_id),
            update_mask=field_mask_pb2.FieldMask(paths=["parent_id"]),
        ),
        metadata=callers.admin,
    )


async def _all_pages(stub, request: pb.ListCategoriesRequest) -> list[str]:
    names: list[str] = []
    while True:
        reply = await stub.ListCategories(request)
        names += [c.name for c in reply.categories]
        if not reply.next_page_token:
            return names
        request.page_token = reply.next_page_token


async def test_create_get_and_list(stub, make_category) -> None:
    shoes = await make_category("Shoes")
    boots = await make_category("boots", shoes.id)
    await make_category("Sandals", shoes.id)
    await make_category("Apparel")
    got = await stub.GetCategory(pb.GetCategoryRequest(category_id=boots.id))
    assert got.category == boots
    assert boots.parent_id == shoes.id
    everything = pb.ListCategoriesRequest(page_size=1)
    assert await _all_pages(stub, everything) == ["Apparel", "boots", "Sandals", "Shoes"]
    roots = pb.ListCategoriesRequest(parent_id="", page_size=1)
    assert await _all_pages(stub, roots) == ["Apparel", "Shoes"]
    children = pb.ListCategoriesRequest(parent_id=shoes.id)
    assert await _all_pages(stub, children) == ["boots", "Sandals"]


async def test_names_are_unique_among_siblings_only(stub, callers, make_category) -> None:
    shoes = await make_category("Shoes")
    await make_category("Sale", shoes.id)
    await make_category("Sale")  # another parent: fine
    await expect_error(
        stub.CreateCategory(
            pb.CreateCategoryRequest(category=pb.Category(name="  sale", parent_id=shoes.id)),
            metadata=callers.admin,
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "CATEGORY_ALREADY_EXISTS",
    )
    other = await make_category("Other", shoes.id)
    rename = pb.UpdateCategoryRequest(
        category=pb.Category(id=other.id, name="SALE"),
        update_mask=field_mask_pb2.FieldMask(paths=["name"]),
    )
    await expect_error(
        stub.UpdateCategory(rename, metadata=callers.admin),
        grpc.StatusCode.ALREADY_EXISTS,
        "CATEGORY_ALREADY_EXISTS",
    )


async def test_rename_keeps_own_name_case_change(stub, callers, make_category) -> None:
    shoes = await make_category("shoes")
    reply = await stub.UpdateCategory(
        pb.UpdateCategoryRequest(
            category=pb.Category(id=shoes.id, name="Shoes", description="feet"),
            update_mask=field_mask_pb2.FieldMask(paths=["name", "description"]),
        ),
        metadata=callers.admin,
    )
    assert (reply.category.name, reply.category.description) == ("Shoes", "feet")


async def test_a_move_that_makes_a_cycle_is_refused(stub, callers, make_category) -> None:
    a = await make_category("A")
    b = await make_category("B", a.id)
    c = await make_category("C", b.id)
    for target in (c.id, b.id, a.id):
        details = await expect_error(
            _move(stub, callers, a.id, target),
            grpc.StatusCode.INVALID_ARGUMENT,
            "CATEGORY_CYCLE",
        )
        assert details.violated_fields == {"category.parent_id"}
    moved = (await _move(stub, callers, c.id, "")).category
    assert moved.parent_id == ""
    assert await _all_pages(stub, pb.ListCategoriesRequest(parent_id="")) == ["A", "C"]
    assert await _all_pages(stub, pb.ListCategoriesRequest(parent_id=b.id)) == []
    await _move(stub, callers, a.id, c.id)  # now legal: C is no longer under A
    assert (
        await stub.GetCategory(pb.GetCategoryRequest(category_id=a.id))
    ).category.parent_id == c.id


async def test_moving_a_subtree_moves_its_products_in_listings(
    stub, callers, make_category, make_product
) -> None:
    a = await make_category("A")
    b = await make_category("B")
    leaf = await make_category("Leaf", a.id)
    product = await make_product(category_id=leaf.id)
    under_b = pb.ListProductsRequest(
        filter=pb.ProductFilter(category_id=b.id, include_subcategories=True)
    )
    assert list((await stub.ListProducts(under_b)).products) == []
    await _move(stub, callers, leaf.id, b.id)
    assert [p.id for p in (await stub.ListProducts(under_b)).products] == [product.id]


async def test_delete_refuses_categories_with_children_or_products(
    stub, callers, make_category, make_product
) -> None:
    parent = await make_category("Parent")
    child = await make_category("Child", parent.id)
    product = await make_product(category_id=child.id)
    for category_id in (parent.id, child.id):
        await expect_error(
            stub.DeleteCategory(
                pb.DeleteCategoryRequest(category_id=category_id), metadata=callers.admin
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            "CATEGORY_NOT_EMPTY",
        )
    await stub.DeleteProduct(pb.DeleteProductRequest(product_id=product.id), metadata=callers.admin)
    for category_id in (child.id, parent.id):
        await stub.DeleteCategory(
            pb.DeleteCategoryRequest(category_id=category_id), metadata=callers.admin
        )
    await expect_error(
        stub.GetCategory(pb.GetCategoryRequest(category_id=parent.id)),
        NOT_FOUND,
        "CATEGORY_NOT_FOUND",
    )
    assert await _all_pages(stub, pb.ListCategoriesRequest()) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda stub, md: stub.GetCategory(pb.GetCategoryRequest(category_id="nope")),
        lambda stub, md: stub.ListCategories(pb.ListCategoriesRequest(parent_id="nope")),
        lambda stub, md: stub.DeleteCategory(
            pb.DeleteCategoryRequest(category_id="nope"), metadata=md
        ),
        lambda stub, md: stub.CreateCategory(
            pb.CreateCategoryRequest(category=pb.Category(name="x", parent_id="nope")), metadata=md
        ),
        lambda stub, md: _move_call(stub, md, "nope", ""),
    ],
    ids=["get", "list-children", "delete", "create-under", "update"],
)
async def test_unknown_category_is_not_found(stub, callers, call) -> None:
    await expect_error(call(stub, callers.admin), NOT_FOUND, "CATEGORY_NOT_FOUND")


def _move_call(stub, metadata, category_id: str, parent_id: str):
    return stub.UpdateCategory(
        pb.UpdateCategoryRequest(
            category=pb.Category(id=category_id, parent_id=parent_id),
            update_mask=field_mask_pb2.FieldMask(paths=["parent_id"]),
        ),
        metadata=metadata,
    )


async def test_move_under_a_missing_parent_is_not_found(stub, callers, make_category) -> None:
    a = await make_category("A")
    await expect_error(_move(stub, callers, a.id, "nope"), NOT_FOUND, "CATEGORY_NOT_FOUND")


@pytest.mark.parametrize(
    ("category", "paths", "field"),
    [
        (pb.Category(name=""), ["name"], "category.name"),
        (pb.Category(name="x" * 101), ["name"], "category.name"),
        (pb.Category(name="ok", description="d" * 1001), ["description"], "category.description"),
        (pb.Category(name="ok"), [], "update_mask"),
        (pb.Category(name="ok"), ["id"], "update_mask"),
    ],
)
async def test_update_category_rejects_bad_fields(
    stub, callers, make_category, category, paths, field
) -> None:
    existing = await make_category("Existing")
    category.id = existing.id
    request = pb.UpdateCategoryRequest(
        category=category, update_mask=field_mask_pb2.FieldMask(paths=paths)
    )
    details = await expect_error(
        stub.UpdateCategory(request, metadata=callers.admin),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FIELD",
    )
    assert field in details.violated_fields


async def test_list_categories_paging_errors(stub, make_category) -> None:
    for name in ("A", "B", "C"):
        await make_category(name)
    first = await stub.ListCategories(pb.ListCategoriesRequest(page_size=1))
    assert first.next_page_token
    await expect_error(
        stub.ListCategories(
            pb.ListCategoriesRequest(parent_id="", page_token=first.next_page_token)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )
    await expect_error(
        stub.ListCategories(pb.ListCategoriesRequest(page_size=-1)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FIELD",
    )
