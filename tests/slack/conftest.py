from __future__ import annotations

import pytest

from tests.slack.harness import running_bot


@pytest.fixture
async def bot(request, tmp_path, key_prefix):
    """The app over HTTP on the embedded default (sqlite); parametrise with "redis" for Redis."""
    backend = getattr(request, "param", "sqlite")
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else None
    async with running_bot(tmp_path, redis_url=redis_url, key_prefix=key_prefix) as running:
        yield running
