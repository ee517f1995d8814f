"""Each service's default request-size limit leaves room for its largest legitimate request."""

from __future__ import annotations

from google.protobuf.message import Message

from estore.inventory import rules_fields
from estore.inventory.app import MAX_MESSAGE_BYTES as INVENTORY_LIMIT
from estore.payments.app import MAX_MESSAGE_BYTES as PAYMENTS_LIMIT
from estore.payments.basket import MAX_LINES
from estore.users.app import MAX_MESSAGE_BYTES as USERS_LIMIT
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as inv
from generated.estore.payments.v1 import payment_service_pb2 as pay
from generated.estore.users.v1 import user_service_pb2 as users

WIDE = "😀"  # 4 bytes in UTF-8: the worst case for a limit counted in characters
ID = "i" * 128  # ids are at most 128 characters
PAGE_TOKEN = "t" * 2048  # our own tokens stay far below this


def _fits(limit: int, *requests: Message) -> None:
    """Each request, and twice it (room to grow), is within the limit."""
    for request in requests:
        assert 2 * request.ByteSize() <= limit, (type(request).__name__, request.ByteSize())


def test_inventory_takes_its_largest_product_with_room_to_spare() -> None:
    product = inv.Product(
        id=ID,
        name=WIDE * rules_fields.NAME_MAX,
        description=WIDE * rules_fields.DESCRIPTION_MAX,
        tags=[WIDE * rules_fields.TAG_MAX] * rules_fields.TAGS_MAX,
        image_url="https://example.com/" + WIDE * (rules_fields.IMAGE_URL_MAX - 20),
        category_id=ID,
        price=money_pb2.Money(currency_code="USD", minor_units=rules_fields.PRICE_MAX_MINOR),
        quantity=2**31 - 1,
        min_stock_level=2**31 - 1,
        discount_percentage=100,
    )
    every_path = [field.name for field in inv.Product.DESCRIPTOR.fields]
    _fits(
        INVENTORY_LIMIT,
        inv.CreateProductRequest(product=product),
        inv.UpdateProductRequest(product=product, update_mask={"paths": every_path}),
        inv.ListProductsRequest(
            filter=inv.ProductFilter(
                category_id=ID,
                tags=[WIDE * rules_fields.TAG_MAX] * rules_fields.TAGS_MAX,
                query=WIDE * rules_fields.QUERY_MAX,
            ),
            order_by="name desc",
            page_size=500,
            page_token=PAGE_TOKEN,
        ),
        inv.WatchInventoryRequest(
            product_ids=[ID] * rules_fields.WATCH_PRODUCTS_MAX, after_event_id="9" * 20 + "-0"
        ),
    )


def test_payments_and_users_take_theirs() -> None:
    basket = [pay.LineItem(product_id=ID, quantity=10_000)] * MAX_LINES
    _fits(
        PAYMENTS_LIMIT,
        pay.CreateOrderRequest(product_id=ID, quantity=10_000, payment_method_id=ID, request_id=ID),
        pay.CreateOrderRequest(items=basket, payment_method_id=ID, request_id=ID),
        pay.RefundOrderRequest(
            order_id=ID, reason=WIDE * 500, restock=True, request_id=ID, items=basket
        ),
        pay.AddOrderNoteRequest(order_id=ID, note=WIDE * 1000),
    )
    _fits(
        USERS_LIMIT,
        users.RegisterRequest(email=WIDE * 254, password="p" * 72),
        users.ResetPasswordRequest(token="t" * 256, new_password="p" * 72),
        users.ListUsersRequest(
            page_token=PAGE_TOKEN, filter=users.UserFilter(email_prefix=WIDE * 255)
        ),
        users.UpdateUserRequest(
            user=users.User(id=2**62, email=WIDE * 254), update_mask={"paths": ["email"]}
        ),
    )
