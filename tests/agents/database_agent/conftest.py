"""A real PostgreSQL for the session (initdb + pg_ctl on loopback, a free port; as root the
server runs as `postgres`), one database per test, seeded with the billing schema.

Without PostgreSQL binaries the session fixture FAILS (it never skips): CI installs Debian's
`postgresql` package."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from workflow.agents.database_agent.client import Databases, DatabaseSettings
from workflow.agents.database_agent.sandbox import seed_billing
from workflow.agents.database_agent.server import LocalPostgres, start_cluster
from workflow.catalog import ServiceCatalog
from workflow.deps import WorkflowDeps

PROD_VAR = "BILLING_PROD_DATABASE_URL"
STAGING_VAR = "BILLING_STAGING_DATABASE_URL"
CATALOG = ServiceCatalog.from_dict(
    {
        "services": {
            "billing": {
                "databases": {
                    "production": {"url_env": PROD_VAR},
                    "staging": {"url_env": STAGING_VAR},
                }
            }
        }
    }
)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalPostgres]:
    base = Path(tempfile.mkdtemp(prefix="dbagent-", dir="/tmp"))
    base.chmod(0o755)
    server = start_cluster(base / "cluster")  # PostgresMissing fails the tests loudly
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def database(pg_server: LocalPostgres) -> Iterator[str]:
    """A fresh database seeded with accounts, invoices (2 per account) and payments."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_server.url(name)
    seed_billing(url, payments=5_000, accounts=200)
    try:
        yield url
    finally:
        with psycopg.connect(pg_server.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def make_deps(url: str, **settings: Any) -> WorkflowDeps:
    environ = {PROD_VAR: url, STAGING_VAR: url}
    tuned = DatabaseSettings(**{"lock_timeout_s": 0.5, "retry_pause_s": 0.05, **settings})
    deps = WorkflowDeps.embedded()
    deps.catalog = CATALOG
    deps.extras = {"postgres": Databases(CATALOG, environ, tuned)}
    return deps


@pytest.fixture
def deps(database: str) -> WorkflowDeps:
    return make_deps(database)
