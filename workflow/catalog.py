"""The service catalog: where a service runs, who owns it, where its code, image and
pipeline are, and its runbooks.

Loaded from the YAML file the settings name (`DEVOPS_BOT_CATALOG`) and published in
the memory bus's `org` namespace, so every node on every replica reads the same data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from workflow.environments import CANONICAL_ENVIRONMENTS, canonical_environment
from workflow.memory import AccessContext, MemoryBus, Namespace

__all__ = [
    "CATALOG_KEY",
    "CatalogError",
    "DatabaseEntry",
    "HarnessEnvironment",
    "HarnessSettings",
    "ServiceCatalog",
    "ServiceEntry",
    "catalog_from_bus",
    "load_catalog",
    "load_into_bus",
]

CATALOG_KEY = "catalog.services"

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_HARNESS_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,127}")
# A Harness reference may name an identifier at the account or org scope.
_HARNESS_REF = re.compile(r"(?:(?:account|org)\.)?[A-Za-z_][A-Za-z0-9_$]{0,127}")
# owner/name on the forge (GitHub, GitLab groups may nest), or an https URL of the repository.
_REPOSITORY = re.compile(
    r"(?:https://[A-Za-z0-9.-]+(?::\d+)?/)?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+?(?:\.git)?"
)
# An image repository without tag or digest: registry/path/name, lowercase.
_IMAGE = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")
_BUS_SOURCE = f"memory bus org/{CATALOG_KEY}"


class CatalogError(ValueError):
    """A catalog that cannot be used; the message names the source and the field."""


def _dns1123_label(value: str, what: str) -> str:
    if len(value) > 63 or not _DNS1123_LABEL.fullmatch(value):
        raise ValueError(
            f"invalid {what} {value!r}: must be a DNS-1123 label (lowercase letters, digits "
            "and '-', starting and ending with a letter or digit, at most 63 characters)"
        )
    return value


def _service_name(value: str) -> str:
    return _dns1123_label(value, "service name")


def _namespace_name(value: str) -> str:
    return _dns1123_label(value, "namespace name")


def _environment_key(value: str) -> str:
    canonical = canonical_environment(value)
    if canonical is None:
        raise ValueError(
            f"unknown environment {value!r} (expected {', '.join(CANONICAL_ENVIRONMENTS)} "
            "or an alias such as prod, stage, development)"
        )
    return canonical


def _harness_pipeline(value: str) -> str:
    if not _HARNESS_ID.fullmatch(value):
        raise ValueError(
            f"invalid Harness pipeline identifier {value!r}: letters, digits, '_' and '$', "
            "starting with a letter or '_'"
        )
    return value


def _harness_ref(value: str) -> str:
    if not _HARNESS_REF.fullmatch(value):
        raise ValueError(
            f"invalid Harness reference {value!r}: an identifier (letters, digits, '_' and "
            "'$', starting with a letter or '_'), optionally prefixed 'account.' or 'org.'"
        )
    return value


def _repository(value: str) -> str:
    if not _REPOSITORY.fullmatch(value) or "//" in value.removeprefix("https://"):
        raise ValueError(
            f"invalid repository {value!r}: owner/name (e.g. acme/ledger) or its https URL"
        )
    return value


def _image(value: str) -> str:
    if not _IMAGE.fullmatch(value):
        raise ValueError(
            f"invalid image repository {value!r}: registry/path/name in lowercase, without a "
            "tag (e.g. registry.example.com/acme/ledger)"
        )
    return value


def _non_empty(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _runbook(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"runbook {value!r} must be an http(s) URL")
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"{value!r} must be an http(s) URL")
    return value


_Text = Annotated[str, AfterValidator(_non_empty)]
_HttpUrl = Annotated[str, AfterValidator(_http_url)]
_HarnessRef = Annotated[str, AfterValidator(_harness_ref)]


class HarnessEnvironment(BaseModel):
    """Where a service's pipeline deploys in one environment: Harness's own references."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: _HarnessRef  # environmentRef
    infrastructure: _HarnessRef  # infrastructure definition identifier


class HarnessSettings(BaseModel):
    """What a pipeline for the service is built from, as Harness names it.

    connector           the Git connector the CI stage clones the repository with
    registry_connector  the Docker registry connector images are pushed with
    service             the Harness service (defaults to the catalog name, '-' as '_')
    approvers           user groups that approve a production stage (HarnessApproval)
    environments        per environment: Harness environment and infrastructure refs
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    connector: _HarnessRef | None = None
    registry_connector: _HarnessRef | None = None
    service: _HarnessRef | None = None
    approvers: list[_HarnessRef] = Field(default_factory=list)
    environments: dict[Annotated[str, AfterValidator(_environment_key)], HarnessEnvironment] = (
        Field(default_factory=dict)
    )


_ENV_VAR = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
_PG_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_$]{0,62}")


def _env_var_name(value: str) -> str:
    if not _ENV_VAR.fullmatch(value):
        raise ValueError(
            f"invalid environment variable name {value!r}: the catalog names the variable that "
            "holds the database URL (e.g. BILLING_PROD_DATABASE_URL), never the URL itself"
        )
    return value


def _pg_schema(value: str) -> str:
    if not _PG_IDENTIFIER.fullmatch(value):
        raise ValueError(f"invalid schema name {value!r}: lowercase letters, digits and '_'")
    return value


def _repo_folder(value: str) -> str:
    folder = value.strip().strip("/")
    parts = folder.split("/")
    if not folder or any(p in {"", ".", ".."} for p in parts) or parts[0] == ".git":
        raise ValueError(f"invalid migrations_path {value!r}: a folder inside the repository")
    return folder


def _repo_file(value: str) -> str:
    path = str(value).strip()
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or any(p in {"", ".", ".."} for p in parts)
        or parts[0] == ".git"
    ):
        raise ValueError(
            f"invalid openapi_path {value!r}: a file inside the service's repository, relative "
            "and without '..' (e.g. api/openapi.yaml)"
        )
    return path


def _image_ref(value: str) -> str:
    text = str(value).strip()
    if not text or any(c.isspace() for c in text) or text.startswith(("-", "/")):
        raise ValueError(f"invalid image {value!r}: e.g. registry.example.com/ledger-tests:1.4")
    return text


class DatabaseEntry(BaseModel):
    """A service's database in one environment, by the NAME of the environment variable
    holding its URL (the URL, with its password, is never in the catalog).

    url_env           variable holding the read-write URL (migrations, rehearsals)
    readonly_url_env  variable holding a read-only URL for reads (optional)
    schema            the schema the service's tables live in
    migrations        `apply` (directly, with a ledger) or `pull_request` (a migration file)
    migrations_path   with `pull_request`: the folder of the service's repository the file
                      goes in (default: detected, e.g. migrations/, db/migrations/,
                      alembic/versions/)
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    url_env: Annotated[str, AfterValidator(_env_var_name)]
    readonly_url_env: Annotated[str, AfterValidator(_env_var_name)] | None = None
    schema_name: Annotated[str, AfterValidator(_pg_schema)] = Field(
        default="public", alias="schema"
    )
    migrations: Literal["apply", "pull_request"] = "apply"
    migrations_path: Annotated[str, AfterValidator(_repo_folder)] | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class UnitTestsEntry(BaseModel):
    """How a service's unit tests run as a Kubernetes Job (testing_agent), when it has no
    Harness pipeline to run them: the image holding the tests and the command that runs them
    (it prints pytest's summary line or a JUnit XML report). `deadline_s` bounds the Job
    (activeDeadlineSeconds)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: Annotated[str, AfterValidator(_image_ref)]
    command: list[_Text] = Field(min_length=1)
    deadline_s: int = Field(default=900, ge=10, le=6 * 3600)


class ServiceEntry(BaseModel):
    """One service. `namespaces` is keyed by canonical environment (production, ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, AfterValidator(_service_name)]
    namespaces: dict[
        Annotated[str, AfterValidator(_environment_key)],
        Annotated[str, AfterValidator(_namespace_name)],
    ] = Field(default_factory=dict)
    owners: list[_Text] = Field(default_factory=list)
    harness_pipeline: Annotated[str, AfterValidator(_harness_pipeline)] | None = None
    harness: HarnessSettings | None = None
    repository: Annotated[str, AfterValidator(_repository)] | None = None
    image: Annotated[str, AfterValidator(_image)] | None = None  # image repository, no tag
    language: _Text | None = None
    runbooks: list[Annotated[str, AfterValidator(_runbook)]] = Field(default_factory=list)
    aliases: list[_Text] = Field(default_factory=list)
    # Its PostgreSQL database per canonical environment (database_agent).
    databases: dict[Annotated[str, AfterValidator(_environment_key)], DatabaseEntry] = Field(
        default_factory=dict
    )
    # The service's OpenAPI document per environment (e.g. its own /openapi.json).
    openapi: dict[Annotated[str, AfterValidator(_environment_key)], _HttpUrl] | None = None
    # Or the document in its `repository:` (read on the forge at main), e.g. api/openapi.yaml.
    openapi_path: Annotated[str, AfterValidator(_repo_file)] | None = None
    # The coverage report its CI publishes: a coverage.py JSON or Cobertura XML URL.
    coverage: _HttpUrl | None = None
    # Its unit tests as a Kubernetes Job (image + command), for `run the unit tests of X`.
    unit_tests: UnitTestsEntry | None = None

    @field_validator("namespaces", mode="before")
    @classmethod
    def _no_duplicate_environments(cls, value: Any) -> Any:
        # `prod` and `production` would otherwise silently overwrite one another.
        if isinstance(value, dict):
            seen: dict[str, str] = {}
            for key in value:
                canonical = canonical_environment(key) if isinstance(key, str) else None
                if canonical is None:
                    continue
                if canonical in seen:
                    raise ValueError(
                        f"environments {seen[canonical]!r} and {key!r} both mean {canonical!r}"
                    )
                seen[canonical] = key
        return value

    def to_dict(self) -> dict[str, Any]:
        """The YAML shape of this entry (without its name, which is the mapping key)."""
        out = self.model_dump(mode="json", exclude={"name"}, exclude_none=True, by_alias=True)
        if not out.get("databases"):
            out.pop("databases", None)
        return out


class ServiceCatalog(BaseModel):
    """All services by name, with case-insensitive lookup by name or alias."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    services: dict[str, ServiceEntry] = Field(default_factory=dict)
    _index: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _name_entries(cls, data: Any) -> Any:
        # The YAML names a service by its mapping key; give each entry that name.
        if not isinstance(data, dict):
            return data
        services = data.get("services")
        if services is None:
            return {**data, "services": {}}
        if not isinstance(services, dict):
            return data
        named: dict[str, Any] = {}
        for key, entry in services.items():
            name = str(key)
            if entry is None:
                entry = {}
            if isinstance(entry, dict):
                if "name" in entry and entry["name"] != name:
                    raise ValueError(
                        f"services.{name}: 'name' {entry['name']!r} differs from the key; "
                        "the key is the service name"
                    )
                entry = {**entry, "name": name}
            named[name] = entry
        return {**data, "services": named}

    @model_validator(mode="after")
    def _build_index(self) -> ServiceCatalog:
        index: dict[str, str] = {}
        for name in self.services:
            index[name.lower()] = name
        for name, entry in self.services.items():
            for alias in entry.aliases:
                owner = index.setdefault(alias.lower(), name)
                if owner != name:
                    raise ValueError(
                        f"services.{name}.aliases: {alias!r} already names service {owner!r}"
                    )
        self._index = index
        return self

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<catalog>") -> ServiceCatalog:
        """Validate already-parsed catalog data; errors are `CatalogError`s naming `source`."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise CatalogError(
                f"{source}: the top level must be a mapping with a 'services' key, "
                f"not a {type(data).__name__}"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise CatalogError(_format_errors(source, exc)) from None

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON shape: `{"services": {name: {...}}}`."""
        return {"services": {name: e.to_dict() for name, e in self.services.items()}}

    def resolve(self, service_name: str | None) -> ServiceEntry | None:
        """The entry whose name or alias matches, ignoring case; None when unknown."""
        if not isinstance(service_name, str):
            return None
        key = service_name.strip().lower()
        name = self._index.get(key)
        if name is None and key.endswith("-service"):
            # "payment service" is read as payment-service; the catalog may call it payment.
            name = self._index.get(key.removesuffix("-service"))
        return None if name is None else self.services[name]

    def canonical_name(self, service_name: str | None) -> str | None:
        """The catalog's own name for `service_name`, or the name unchanged if unknown."""
        entry = self.resolve(service_name)
        return entry.name if entry else service_name

    def namespace_for(self, service: str, environment: str) -> str:
        """The Kubernetes namespace of `service` in `environment`.

        Falls back to the canonical environment name ("production") when the service
        or its environment is not in the catalog. Unknown environments raise ValueError.
        """
        canonical = canonical_environment(environment)
        if canonical is None:
            raise ValueError(
                f"unknown environment {environment!r} "
                f"(expected {', '.join(CANONICAL_ENVIRONMENTS)} or an alias)"
            )
        entry = self.resolve(service)
        if entry is None:
            return canonical
        return entry.namespaces.get(canonical, canonical)

    def harness_pipeline_for(self, service: str) -> str | None:
        entry = self.resolve(service)
        return None if entry is None else entry.harness_pipeline


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if p != "[key]")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {loc}: {msg}" if loc else f"{source}: {msg}")
    return "\n".join(lines)


def load_catalog(path: str | Path) -> ServiceCatalog:
    """Read and validate a catalog YAML file; every problem is a `CatalogError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"{path}: service catalog file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read service catalog: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(f"{path}: invalid YAML{where}: {problem}") from None
    return ServiceCatalog.from_dict(data, source=str(path))


async def load_into_bus(catalog: ServiceCatalog, bus: MemoryBus) -> None:
    """Publish the catalog as org/`catalog.services` ({name: entry}) for every replica."""
    await bus.set(
        Namespace.ORG,
        CATALOG_KEY,
        catalog.to_dict()["services"],
        access_context=AccessContext.for_loader("catalog"),
    )


async def catalog_from_bus(bus: MemoryBus) -> ServiceCatalog:
    """The catalog last published with `load_into_bus`; empty when none was."""
    services = await bus.get(Namespace.ORG, CATALOG_KEY)
    return ServiceCatalog.from_dict({"services": services}, source=_BUS_SOURCE)
