"""The card processor interface, and a simulator that answers like a card network.

The simulator keeps its ledger in Redis, apart from the orders, because it stands for an
outside system: it must remember charges and refunds across a Payments crash, which is what lets
recovery ask "was this order charged?" and lets a retried charge or refund with the same
idempotency key be a no-op. It refuses a refund of a charge it does not know, or one that would
take back more than was charged.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol

from estore.common.redis import RedisClient, text
from estore.payments.cards import CardInput, normalise_number


class ChargeOutcome(Enum):
    """How a charge attempt ended."""

    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    PROCESSOR_ERROR = "processor_error"  # retryable


@dataclass(frozen=True)
class ChargeResult:
    """What the processor said about one charge."""

    outcome: ChargeOutcome
    charge_id: str = ""
    decline_code: str = ""  # CARD_DECLINED, INSUFFICIENT_FUNDS, EXPIRED_CARD


class RefundOutcome(Enum):
    """How a refund attempt ended."""

    SUCCEEDED = "succeeded"
    REFUSED = "refused"  # final: this refund will never be made
    PROCESSOR_ERROR = "processor_error"  # retryable: it may or may not have been made


@dataclass(frozen=True)
class RefundResult:
    """What the processor said about one refund."""

    outcome: RefundOutcome
    refusal: str = ""  # CHARGE_NOT_FOUND, EXCEEDS_CHARGE


class Processor(Protocol):
    """What Payments needs from a card processor."""

    async def tokenize(self, card: CardInput) -> str:
        """Exchange a card for an opaque token to charge later."""
        ...

    async def charge(
        self, token: str, amount_minor: int, currency: str, idempotency_key: str
    ) -> ChargeResult:
        """Charge the card once per idempotency key; a repeat returns the first result."""
        ...

    async def find_charge(self, idempotency_key: str) -> ChargeResult | None:
        """The result of an earlier charge with this key, or None if none was made."""
        ...

    async def refund(self, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        """Refund part or all of a charge, once per idempotency key; a repeat returns the first
        final result (so asking again after an error or a crash never refunds twice)."""
        ...


_LUA = Path(__file__).parent / "lua"
# A charge's id: this and its idempotency key (ids made before were this and 24 hex digits).
CHARGE_PREFIX = "ch_"

# The simulator's test cards: number -> (outcome, decline code).
TEST_CARDS: dict[str, tuple[ChargeOutcome, str]] = {
    "4242424242424242": (ChargeOutcome.SUCCEEDED, ""),
    "4000000000000002": (ChargeOutcome.DECLINED, "CARD_DECLINED"),
    "4000000000009995": (ChargeOutcome.DECLINED, "INSUFFICIENT_FUNDS"),
    "4000000000000069": (ChargeOutcome.DECLINED, "EXPIRED_CARD"),
    "4000000000000119": (ChargeOutcome.PROCESSOR_ERROR, ""),
}


class SimulatedProcessor:
    """Answers per TEST_CARDS (any other valid card succeeds) after `latency_seconds`."""

    def __init__(self, redis: RedisClient, *, latency_seconds: float = 0.0) -> None:
        self._redis = redis
        self._latency = latency_seconds
        self._prefix = "sim:{sim}"
        self._refund = redis.register_script((_LUA / "sim_refund.lua").read_text())
        # For tokens made before they carried the card's behaviour: one script reads it, the
        # earlier result and writes the record, in one round trip.
        self._charge = redis.register_script((_LUA / "sim_charge.lua").read_text())

    async def _pause(self) -> None:
        if self._latency:
            await asyncio.sleep(self._latency)

    async def tokenize(self, card: CardInput) -> str:
        await self._pause()
        outcome, code = TEST_CARDS.get(normalise_number(card.number), (ChargeOutcome.SUCCEEDED, ""))
        # The token carries the card's behaviour, so a charge reads no vault (one command
        # less); the vault is still written, for tokens read by an older Payments mid-deploy.
        token = f"tok_{secrets.token_hex(12)}.{outcome.value}.{code}"
        # Only the behaviour is kept, as a real network would keep its own vault.
        await self._redis.hset(
            f"{self._prefix}:token:{token}", mapping={"outcome": outcome.value, "code": code}
        )
        return token

    async def charge(
        self, token: str, amount_minor: int, currency: str, idempotency_key: str
    ) -> ChargeResult:
        await self._pause()
        # The charge's record is its ledger entry: a refund finds it from the charge's id.
        charge_id = f"{CHARGE_PREFIX}{idempotency_key}"
        _, outcome, code = [*token.split("."), "", ""][:3]  # tokens before: no behaviour
        key = f"{self._prefix}:charge:{idempotency_key}"
        if outcome in (ChargeOutcome.SUCCEEDED.value, ChargeOutcome.DECLINED.value):
            # One command, no script: SET NX GET records this result unless one was made with
            # the key (two concurrent charges record, and report, one result).
            made = charge_id if outcome == ChargeOutcome.SUCCEEDED.value else ""
            record = _charge_record(outcome, made, code, amount_minor, currency)
            earlier = await self._redis.set(key, record, nx=True, get=True)
            return _charge_result(earlier if isinstance(earlier, str | bytes) else record)
        if outcome == ChargeOutcome.PROCESSOR_ERROR.value:  # answered, never recorded
            found = await self._redis.get(key)
            record = _charge_record(outcome, "", code, amount_minor, currency)
            return _charge_result(record if found is None else found)
        keys = [key, f"{self._prefix}:token:{token}"]
        args: list[str | int] = [charge_id, amount_minor, currency, outcome, code]
        return _charge_result(await self._charge(keys=keys, args=args))

    async def find_charge(self, idempotency_key: str) -> ChargeResult | None:
        found = await self._redis.get(f"{self._prefix}:charge:{idempotency_key}")
        return None if found is None else _charge_result(found)

    async def refund(self, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        await self._pause()
        keys = [
            f"{self._prefix}:refund:{idempotency_key}",
            f"{self._prefix}:ledger:{charge_id}",
            f"{self._prefix}:refunds:{charge_id}",
        ]
        if charge_id.startswith(CHARGE_PREFIX):  # charges before this named no record: random
            keys.append(f"{self._prefix}:charge:{charge_id.removeprefix(CHARGE_PREFIX)}")
        reply = await self._refund(keys=keys, args=[amount_minor, charge_id])
        outcome, refusal = (text(part) for part in reply)
        return RefundResult(RefundOutcome(outcome), refusal)

    async def refunds_of(self, charge_id: str) -> list[int]:
        """The amounts refunded on a charge, one per refund made: for tests and audits."""
        made = await self._redis.lrange(f"{self._prefix}:refunds:{charge_id}", 0, -1)
        return [int(amount) for amount in made]

    async def charges_for(self, idempotency_key: str) -> int:
        """How many successful charges exist for a key (0 or 1): for tests and audits."""
        found = await self.find_charge(idempotency_key)
        return int(found is not None and found.outcome is ChargeOutcome.SUCCEEDED)


def _charge_record(outcome: str, charge_id: str, code: str, amount: int, currency: str) -> str:
    """A charge's JSON record, as sim_charge.lua writes it."""
    fields = {"outcome": outcome, "charge_id": charge_id, "code": code, "amount": amount}
    return json.dumps({**fields, "currency": currency})


def _charge_result(record: str | bytes) -> ChargeResult:
    """A charge's result from the simulator's JSON record of it."""
    found = json.loads(record)
    return ChargeResult(
        ChargeOutcome(found["outcome"]), charge_id=found["charge_id"], decline_code=found["code"]
    )
