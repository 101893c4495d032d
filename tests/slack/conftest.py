from __future__ import annotations

import pytest

from tests.slack.harness import MockSlack, running_bot


@pytest.fixture
async def bot(request, tmp_path, key_prefix):
    """The app over HTTP on the embedded default (sqlite); parametrise with "redis" for Redis."""
    backend = getattr(request, "param", "sqlite")
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else None
    async with running_bot(tmp_path, redis_url=redis_url, key_prefix=key_prefix) as running:
        yield running


@pytest.fixture
async def slack():
    """One fake Slack Web API shared by app instances that follow each other (restarts)."""
    fake = MockSlack()
    await fake.start()
    yield fake
    await fake.stop()
