from __future__ import annotations

import uuid

import pytest

from tests.redis_server import RedisStackServer


@pytest.fixture(scope="session")
def redis_server():
    server = RedisStackServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    return redis_server.url


@pytest.fixture
def key_prefix() -> str:
    """A per-test key prefix so tests sharing one Redis never see each other's keys."""
    return f"t{uuid.uuid4().hex[:10]}"
