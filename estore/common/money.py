"""Exact money arithmetic on integer minor units, rounding half-up; never floats."""

from __future__ import annotations


def _divide_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, for numerator >= 0."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("expects a non-negative numerator and a positive denominator")
    quotient, remainder = divmod(numerator, denominator)
    return quotient + (1 if 2 * remainder >= denominator else 0)


def apply_discount(minor_units: int, discount_percentage: int) -> int:
    """The price after a whole-percent discount, rounded half-up to the minor unit."""
    if not 0 <= discount_percentage <= 100:
        raise ValueError("discount_percentage must be 0..100")
    return _divide_half_up(minor_units * (100 - discount_percentage), 100)


def fee_for(minor_units: int, fee_bps: int) -> int:
    """`minor_units` x `fee_bps` / 10000, rounded half-up to the minor unit."""
    return _divide_half_up(minor_units * fee_bps, 10_000)


def share_of(minor_units: int, part: int, whole: int) -> int:
    """`minor_units` x `part` / `whole` rounded half-up (0 when `whole` is 0): a pro-rata share."""
    if whole == 0:
        return 0
    return _divide_half_up(minor_units * part, whole)
