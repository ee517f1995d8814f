"""Keyset pages over one or more sorted sets of `<created ms, 15 digits>:<id>` members."""

from __future__ import annotations

from collections.abc import Sequence

from estore.common.redis import RedisClient, text


async def merged_page(
    redis: RedisClient, keys: Sequence[str], after: str, limit: int, *, newest_first: bool
) -> tuple[list[str], str]:
    """The next `limit` members after `after` over every set of `keys` (they may lie in
    different slots: one pipeline, one round trip per master); and the next cursor."""
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            if newest_first:
                upper = f"({after}" if after else "+"
                pipe.zrevrangebylex(key, upper, "-", start=0, num=limit + 1)
            else:
                lower = f"({after}" if after else "-"
                pipe.zrangebylex(key, lower, "+", start=0, num=limit + 1)
        replies = await pipe.execute()
    members = sorted({text(m) for found in replies for m in found}, reverse=newest_first)
    page = members[:limit]
    return page, (page[-1] if len(members) > limit else "")
