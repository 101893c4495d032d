from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis

from tests.cli_helpers import Cli
from tests.redis_server import RedisStackServer

# Prometheus / Alertmanager session servers (lazy), for tests/ops and tests/agents.
pytest_plugins = ("tests.fixtures_ops",)


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


@pytest.fixture(params=["sqlite", "redis"])
def persistence(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def cli(tmp_path: Path, persistence: str, request: pytest.FixtureRequest) -> Cli:
    """A CLI on a fresh data directory, persisting in SQLite or in a flushed Redis."""
    data = tmp_path / "data"
    data.mkdir()
    env = {}
    if persistence == "redis":
        url = request.getfixturevalue("redis_url")
        client = redis.Redis.from_url(url)
        try:
            client.flushall()
        finally:
            client.close()
        env["REDIS_URL"] = url
    return Cli(data, mode=persistence, **env)


@pytest.fixture
def sqlite_cli(tmp_path: Path) -> Cli:
    data = tmp_path / "data"
    data.mkdir()
    return Cli(data)


def _sandbox_postgres_servers() -> set[int]:
    """Pids of the sandbox PostgreSQL servers running on this machine (the database agent's
    sandbox keeps, as root, its clusters under /tmp/devops-bot-postgres)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            argv
            and argv[0].endswith(b"/postgres")
            and any(b"devops-bot-postgres" in a for a in argv)
        ):
            found.add(int(proc.name))
    return found


@pytest.fixture(scope="session", autouse=True)
def no_sandbox_postgres_left_running():
    """A sandbox that starts PostgreSQL stops it when its last user closes: the whole run
    leaves no server behind (one was left per sandbox opened, once)."""
    before = _sandbox_postgres_servers()
    yield
    left = _sandbox_postgres_servers() - before
    assert not left, f"sandbox PostgreSQL servers left running by the tests: pids {sorted(left)}"
