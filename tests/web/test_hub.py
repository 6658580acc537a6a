"""The shared reader's bookkeeping, without Redis: stream ids from clients, and a subscriber
that stops reading is cut off instead of growing memory."""

from __future__ import annotations

import asyncio

from web.hub import MAX_BACKLOG, Subscription, id_key, parse_id


def test_parse_id():
    assert parse_id("1795815189168-0") == "1795815189168-0"
    assert parse_id("18446744073709551615-0") == "18446744073709551615-0"
    for bad in (None, "", "abc", "1-2-3", "-1", "1" * 30 + "-0", "99999999999999999999-0",
                "18446744073709551615-18446744073709551615"):
        assert parse_id(bad) is None
    assert id_key("2-0") > id_key("1-9") and id_key("1-10") > id_key("1-9")


def test_slow_subscriber_overflows_and_ends():
    async def run():
        sub = Subscription("k", "0-0")
        for i in range(MAX_BACKLOG + 5):
            sub.put([(f"{i + 1}-0", {"status": "code"})])
        assert sub.overflowed and sub.queue.qsize() == MAX_BACKLOG + 1
        assert await sub.get() is None
    asyncio.run(run())
