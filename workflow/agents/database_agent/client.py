"""Where the catalog's databases are, how to reach them, and the `connect` hook.

The catalog names each database by the environment variable holding its URL
(`databases: {production: {url_env: BILLING_PROD_DATABASE_URL}}`); the URL itself (with its
password) is read from `BackendContext.environ` when a connection is opened, and is never
printed, logged or put in a message: a database is shown by its service, environment and
variable name.

Settings (environment, all optional):
  DATABASE_LOCK_TIMEOUT_S       lock_timeout of rehearsals and applies (default 3)
  DATABASE_STATEMENT_TIMEOUT_S  statement_timeout of reads (default 60)
  DATABASE_REHEARSAL_TIMEOUT_S  statement_timeout of each rehearsed statement (default 15): the
                                rehearsal takes the real locks on the target database, so this
                                bounds how long it may hold one
  DATABASE_APPLY_RETRIES        attempts of a statement that timed out on its lock (default 3)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from pydantic import BaseModel, Field, SecretStr, ValidationError

from workflow.agents.spec import BackendContext, Connected
from workflow.catalog import DatabaseEntry, ServiceCatalog
from workflow.environments import canonical_environment
from workflow.tools.errors import BackendError

__all__ = ["BACKEND", "DatabaseError", "DatabaseSettings", "Databases", "Target", "connect"]

BACKEND = "postgres"
_URL_IN_TEXT = re.compile(r"postgres(?:ql)?://\S+", re.I)
_PASSWORD = re.compile(r"password=\S+", re.I)


class DatabaseError(BackendError):
    """A database refused or could not be reached; the message never holds its URL."""

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))
        self.message = scrub(message)


def scrub(text: str) -> str:
    """`text` without any connection URL or password in it."""
    return _PASSWORD.sub("password=***", _URL_IN_TEXT.sub("<database URL>", str(text)))


class DatabaseSettings(BaseModel):
    lock_timeout_s: float = Field(default=3.0, gt=0, le=600)
    statement_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    rehearsal_timeout_s: float = Field(default=15.0, gt=0, le=3600)
    apply_retries: int = Field(default=3, ge=1, le=20)
    retry_pause_s: float = Field(default=1.0, ge=0, le=60)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> DatabaseSettings | str:
        raw = {
            "lock_timeout_s": environ.get("DATABASE_LOCK_TIMEOUT_S"),
            "statement_timeout_s": environ.get("DATABASE_STATEMENT_TIMEOUT_S"),
            "rehearsal_timeout_s": environ.get("DATABASE_REHEARSAL_TIMEOUT_S"),
            "apply_retries": environ.get("DATABASE_APPLY_RETRIES"),
        }
        try:
            return cls.model_validate({k: v for k, v in raw.items() if v not in (None, "")})
        except ValidationError as exc:
            first = exc.errors()[0]
            return f"invalid database setting {first['loc'][0]}: {first['msg']}"


@dataclass(frozen=True)
class Target:
    """One service's database in one environment. `label` is what people are shown."""

    service: str
    environment: str
    entry: DatabaseEntry
    url: SecretStr = field(repr=False)
    readonly_url: SecretStr | None = field(default=None, repr=False)

    @property
    def schema(self) -> str:
        return self.entry.schema_name

    @property
    def label(self) -> str:
        return f"{self.service} {self.environment} database ({self.entry.url_env})"

    async def open(self, *, read_only: bool = False) -> psycopg.AsyncConnection[Any]:
        url = self.readonly_url if (read_only and self.readonly_url) else self.url
        try:
            return await psycopg.AsyncConnection.connect(
                url.get_secret_value(), connect_timeout=10, application_name="devops-bot"
            )
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot connect to the {self.label}: {exc}") from None


class Databases:
    """The `postgres` backend: the catalog's databases, resolved to URLs from the environ."""

    def __init__(
        self,
        catalog: ServiceCatalog,
        environ: Mapping[str, str],
        settings: DatabaseSettings,
        *,
        sandbox: Any = None,
    ) -> None:
        self._catalog = catalog
        self._environ = dict(environ)
        self.settings = settings
        # The sandbox's local PostgreSQL (`sandbox.SandboxUse`): it provides the URL of each
        # variable the environment does not set, started on the first request that needs one.
        self.sandbox = sandbox

    def __repr__(self) -> str:  # the environ holds secrets
        return "Databases(...)"

    def services(self) -> list[str]:
        return [n for n, e in self._catalog.services.items() if e.databases]

    def target(self, service: str | None, environment: str | None) -> Target:
        from workflow.agents.base import Refusal

        with_db = self.services()
        entry = self._catalog.resolve(service) if service else None
        if entry is None or not entry.databases:
            if service is None and len(with_db) == 1:
                entry = self._catalog.services[with_db[0]]
            else:
                known = ", ".join(with_db) or "none"
                said = (
                    f"the catalog names no database for {service}"
                    if service
                    else ("which database?")
                )
                raise Refusal(
                    f"{said} (services with a database: {known}); say e.g. 'show the schema "
                    "of invoices in billing prod', or add `databases:` to the service's catalog "
                    "entry"
                )
        env = canonical_environment(environment) if environment else None
        if env is None:
            if len(entry.databases) == 1:
                env = next(iter(entry.databases))
            else:
                raise Refusal(
                    f"which environment of {entry.name}'s database? ({', '.join(entry.databases)})"
                )
        db = entry.databases.get(env)
        if db is None:
            raise Refusal(
                f"the catalog names no {env} database for {entry.name} "
                f"(it has: {', '.join(entry.databases)})"
            )
        url = self._environ.get(db.url_env)
        if not url and self.sandbox is not None and db.url_env in self.sandbox.variables():
            try:
                self._environ = {**self.sandbox.environ(), **self._environ}
            except Exception as exc:  # the sandbox's PostgreSQL could not start: say why
                raise Refusal(f"the sandbox PostgreSQL did not start: {scrub(str(exc))}") from None
            url = self._environ.get(db.url_env)
        if not url:
            raise Refusal(
                f"the {entry.name} {env} database is not reachable: {db.url_env} is not set"
            )
        ro = self._environ.get(db.readonly_url_env) if db.readonly_url_env else None
        return Target(entry.name, env, db, SecretStr(url), SecretStr(ro) if ro else None)


@contextlib.asynccontextmanager
async def connect(context: BackendContext) -> AsyncIterator[Connected]:
    """The catalog's databases; with the sandbox, its local PostgreSQL (started when needed)
    provides the URL of every database variable the environment does not set."""
    settings = DatabaseSettings.from_environ(context.environ)
    if isinstance(settings, str):
        yield Connected(unavailable={BACKEND: settings})
        return
    catalog = context.catalog or ServiceCatalog(services={})
    if not any(e.databases for e in catalog.services.values()):
        why = "no database in the service catalog: add `databases:` to a service's entry"
        yield Connected(unavailable={BACKEND: why})
        return
    sandbox = None
    if context.sandbox:
        from workflow.agents.database_agent.sandbox import SandboxUse

        sandbox = SandboxUse(context.data_dir, catalog)
    try:
        yield Connected(
            backends={BACKEND: Databases(catalog, context.environ, settings, sandbox=sandbox)}
        )
    finally:
        if sandbox is not None:
            sandbox.close()
