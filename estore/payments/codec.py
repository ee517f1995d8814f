"""Orders and payment methods to and from the flat string fields they have in Redis."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from estore.common.redis import text
from estore.payments.cards import CardSummary
from estore.payments.models import (
    Order,
    OrderLine,
    OrderNote,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundState,
)


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return int(moment.timestamp() * 1000)


def truncate_ms(moment: datetime) -> datetime:
    """`moment` at the millisecond precision orders are stored with."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def from_ms(value: bytes | str | int) -> datetime:
    """An aware UTC datetime from epoch milliseconds."""
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def order_fields(order: Order) -> dict[str, str | int]:
    """The hash fields of an order (notes and refunds live in lists of their own).

    A one-line order is stored exactly as orders were before baskets: its line is the
    product_id, quantity, unit_price and reservation_id fields. An order of several lines keeps
    them in `lines`. `refunded:<product id>` counts a line's units refunded by lines.
    """
    fields: dict[str, str | int] = {
        "id": order.id,
        "user_id": order.user_id,
        "product_id": order.product_id,
        "quantity": order.quantity,
        "currency": order.currency,
        "unit_price": order.unit_price_minor,
        "price": order.price_minor,
        "fee": order.fee_minor,
        "total": order.total_minor,
        "refund_amount": order.refund_amount_minor,
        "status": order.status.value,
        "payment_status": order.payment_status.value,
        "reservation_id": order.reservation_id,
        "created_at": to_ms(order.created_at),
        "updated_at": to_ms(order.updated_at),
        "expires_at": to_ms(order.expires_at),
        "payment_method_id": order.payment_method_id,
        "payment_error": order.payment_error,
        "cancel_reason": order.cancel_reason,
        "charge_id": order.charge_id,
        "restocked": int(order.restocked),
    }
    if len(order.lines) > 1:
        fields["lines"] = json.dumps(
            [[x.product_id, x.quantity, x.unit_price_minor, x.reservation_id] for x in order.lines]
        )
    fields.update({refunded_field(li.product_id): li.refunded for li in order.lines if li.refunded})
    return fields


def fields_arg(fields: Mapping[str, str | int]) -> str:
    """Hash fields as one script argument: a JSON array of strings [field, value, ...].

    redis-py's asyncio client packs every argument in Python, a few microseconds each; one
    argument in place of an order's forty costs a tenth as much (the script decodes it with
    cjson). Values are the text redis-py would have sent, so the hash holds the same bytes.
    """
    return json.dumps(
        [part for name, value in fields.items() for part in (name, str(value))],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def refunded_field(product_id: str) -> str:
    """The order hash field counting a line's units refunded by refunds by lines."""
    return f"refunded:{product_id}"


def order_from_fields(
    raw: dict[bytes, bytes],
    notes: list[bytes],
    refunds: list[bytes],
    refund_states: Mapping[bytes, bytes] | None = None,
) -> Order:
    """Rebuild an order from its hash, its lists and where each refund's saga is."""
    f = {k.decode(): v.decode() for k, v in raw.items()}
    states = {k.decode(): v.decode() for k, v in (refund_states or {}).items()}
    refund_list = tuple(_refund(json.loads(r), states) for r in refunds)
    lines = _order_lines(f, refund_list)
    return Order(
        id=f["id"],
        user_id=int(f["user_id"]),
        product_id=f["product_id"],
        quantity=int(f["quantity"]),
        currency=f["currency"],
        unit_price_minor=int(f["unit_price"]),
        price_minor=int(f["price"]),
        fee_minor=int(f["fee"]),
        total_minor=int(f["total"]),
        refund_amount_minor=int(f["refund_amount"]),
        status=OrderStatus(f["status"]),
        payment_status=PaymentStatus(f["payment_status"]),
        reservation_id=f["reservation_id"],
        created_at=from_ms(f["created_at"]),
        updated_at=from_ms(f["updated_at"]),
        expires_at=from_ms(f["expires_at"]),
        payment_method_id=f.get("payment_method_id", ""),
        payment_error=f.get("payment_error", ""),
        cancel_reason=f.get("cancel_reason", ""),
        charge_id=f.get("charge_id", ""),
        restocked=all(line.restocked == line.quantity for line in lines),
        notes=tuple(_note(json.loads(n)) for n in notes),
        refunds=refund_list,
        lines=lines,
    )


def _order_lines(f: Mapping[str, str], refunds: tuple[Refund, ...]) -> tuple[OrderLine, ...]:
    """The order's lines, with the units refunds refunded and returned to stock."""
    if "lines" in f:
        stored = [(str(p), int(q), int(u), str(r)) for p, q, u, r in json.loads(f["lines"])]
    else:  # a one-line order, stored as orders were before baskets
        stored = [(f["product_id"], int(f["quantity"]), int(f["unit_price"]), f["reservation_id"])]
    returned: Counter[str] = Counter()
    for refund in refunds:
        if refund.state is RefundState.COMPLETED:
            returned.update(dict(refund.units))
    # Before refunds kept their units, the order's flag said its one line went back whole.
    whole = f.get("restocked") == "1"
    return tuple(
        OrderLine(
            product_id,
            quantity,
            unit_price,
            reservation_id,
            refunded=int(f.get(refunded_field(product_id), 0)),
            restocked=quantity if whole else min(quantity, returned[product_id]),
        )
        for product_id, quantity, unit_price, reservation_id in stored
    )


def note_entry(note: OrderNote) -> str:
    return json.dumps({"text": note.text, "at": to_ms(note.created_at), "by": note.author_user_id})


def _note(entry: dict[str, object]) -> OrderNote:
    return OrderNote(str(entry["text"]), from_ms(str(entry["at"])), int(str(entry["by"])))


def refund_entry(refund: Refund) -> str:
    """A refund as JSON: as decided in the order's list, or as it stands in a stored reply."""
    return json.dumps(
        {
            "amount": refund.amount_minor,
            "reason": refund.reason,
            "restocked": refund.restocked,
            "at": to_ms(refund.created_at),
            "by": refund.author_user_id,
            "rid": refund.request_id,
            "id": refund.id,
            "restock": refund.restock,
            "state": refund.state.value,
            "units": [list(line) for line in refund.units],
            **({"lines": [list(line) for line in refund.lines]} if refund.lines else {}),
        }
    )


def parse_units(raw: str) -> tuple[tuple[str, int], ...]:
    """(product id, units) lines stored as JSON ('' is none)."""
    return _lines(json.loads(raw)) if raw else ()


def _lines(units: list[Any]) -> tuple[tuple[str, int], ...]:
    return tuple((str(product), int(quantity)) for product, quantity in units)


def _refund(entry: dict[str, Any], states: Mapping[str, str]) -> Refund:
    # The list keeps each refund as decided; its saga's progress lives beside it in `states`.
    # Entries from before refunds had ids or states were complete when written.
    refund_id = str(entry.get("id", ""))
    state = RefundState(states.get(refund_id) or entry.get("state", "COMPLETED"))
    claimed = states.get(f"{refund_id}:units")
    lines = parse_units(claimed) if claimed else _lines(entry.get("units", []))
    return Refund(
        int(str(entry["amount"])),
        str(entry["reason"]),
        bool(entry["restocked"]) or (state is RefundState.COMPLETED and bool(lines)),
        from_ms(str(entry["at"])),
        int(str(entry["by"])),
        str(entry.get("rid", "")),
        refund_id,
        state,
        bool(entry.get("restock", entry["restocked"])),
        lines,
        _lines(entry.get("lines", [])),
    )


def method_fields(method: PaymentMethod) -> dict[str, str | int]:
    card = method.card
    return {
        "id": method.id,
        "user_id": method.user_id,
        "brand": card.brand,
        "last4": card.last4,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "holder_name": card.holder_name,
        "processor_token": method.processor_token,
        "created_at": to_ms(method.created_at),
    }


def method_from_fields(raw: Mapping[Any, Any]) -> PaymentMethod:
    f = {text(k): text(v) for k, v in raw.items()}
    card = CardSummary(
        f["brand"], f["last4"], int(f["exp_month"]), int(f["exp_year"]), f["holder_name"]
    )
    return PaymentMethod(
        f["id"], int(f["user_id"]), card, f["processor_token"], from_ms(f["created_at"])
    )


def order_to_json(order: Order) -> dict[str, object]:
    """An order as JSON-ready data (for stored idempotent responses)."""
    return {
        "fields": order_fields(order),
        "notes": [note_entry(n) for n in order.notes],
        "refunds": [refund_entry(r) for r in order.refunds],
    }


def order_from_json(data: dict[str, Any]) -> Order:
    """The order `order_to_json` described."""
    raw = {str(k).encode(): str(v).encode() for k, v in data["fields"].items()}
    return order_from_fields(
        raw, [n.encode() for n in data["notes"]], [r.encode() for r in data["refunds"]]
    )
