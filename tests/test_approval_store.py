"""The Redis thread lock is a renewed lease: held as long as its holder works, freed within
one lease when the holder dies (a replica killed mid-apply must not block its thread)."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from workflow.approval.store import LockTimeoutError, RedisApprovalStore


@pytest.fixture
async def store(redis_url, key_prefix):
    client = Redis.from_url(redis_url)
    yield RedisApprovalStore(client, prefix=key_prefix, lease=0.6)
    await client.aclose()


async def test_a_lock_held_longer_than_its_lease_stays_held(store):
    async with store.thread_lock("t1"):
        await asyncio.sleep(1.5)  # well past the 0.6 s lease: renewed meanwhile
        with pytest.raises(LockTimeoutError):
            async with store.thread_lock("t1", timeout=0.2):
                pass
    async with store.thread_lock("t1", timeout=0.2):  # released on exit
        pass


async def test_a_dead_holders_lock_is_free_within_one_lease(store):
    held = store.thread_lock("t2")
    await held.__aenter__()
    # The holder dies: nothing renews the lease and nothing releases the lock.
    for task in asyncio.all_tasks():
        if task.get_name() == "lock-renewal:t2":
            task.cancel()
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with store.thread_lock("t2", timeout=5):
            waited = loop.time() - started
    finally:
        await held.__aexit__(None, None, None)  # the lock is long gone: releasing is a no-op
    assert waited <= store.lease + 0.5, f"waited {waited:.2f}s for a dead holder's lock"
