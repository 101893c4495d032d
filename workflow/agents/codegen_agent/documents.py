"""OpenAPI documents: where a service's is (catalog URL or repository path, sandbox, a URL in
the request), fetching it or reading it on the forge, validating it (openapi-spec-validator;
each error names its JSON path) and remembering the version a client was last generated from.

Shared with testing_agent (`SPEC.public`).
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import yaml

from workflow.environments import canonical_environment

__all__ = [
    "ApiDirectory",
    "Document",
    "DocumentError",
    "fetch_document",
    "json_path",
    "locate_document",
    "missing_tools",
    "parse_document",
    "read_repository_document",
    "uploaded_document",
    "validate_document",
]

_TOOLS = {
    "client": ("openapi_python_client", "openapi-python-client"),
    "models": ("datamodel_code_generator", "datamodel-code-generator"),
    "validate": ("openapi_spec_validator", "openapi-spec-validator"),
}


def missing_tools(*kinds: str) -> str | None:
    """The sentence saying the `api` extra is missing, or None when it is installed."""
    absent = [
        _TOOLS[k][1] for k in ("validate", *kinds) if importlib.util.find_spec(_TOOLS[k][0]) is None
    ]
    if not absent:
        return None
    return (
        f"{', '.join(absent)} is not installed here: install devops-bot's `api` extra "
        "(pip install 'devops-bot[api]')"
    )


FETCH_TIMEOUT_S = 10.0
# Hosts that keep documents without serving their API: their `servers` are taken as written.
_STATIC_HOSTS = ("github.com", "githubusercontent.com", "gitlab.com", "bitbucket.org")
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024


class DocumentError(Exception):
    """A document that cannot be used; the message says where and why."""


@dataclass
class Document:
    """A fetched, valid OpenAPI document and where it came from.

    A document read from a repository (`in_repository`) is the contract, not a live service:
    its `url` reads `acme/ledger:api/openapi.yaml@main`, and the API answers at `live_url`
    (the catalog's or the sandbox's URL of the asked environment), else at its first
    absolute `servers` entry, else nowhere known (`base_url()` is None)."""

    url: str
    data: dict[str, Any]
    in_repository: bool = False
    live_url: str | None = None

    @property
    def version(self) -> str:
        return str((self.data.get("info") or {}).get("version") or "?")

    @property
    def title(self) -> str:
        return str((self.data.get("info") or {}).get("title") or "API")

    def _first_server(self) -> str | None:
        servers = self.data.get("servers") or []
        first = servers[0].get("url") if servers and isinstance(servers[0], dict) else None
        return str(first) if first else None

    def no_live_url(self) -> str:
        """Why a repository document has no base URL (said when no live call is made)."""
        return (
            f"the document at {self.url} is the contract, not a live service: it names no "
            "absolute `servers` URL and the catalog gives no `openapi:` URL for this "
            "environment, so the live call was not made (add an absolute `servers` entry to "
            "the document, or the environment's URL under `openapi:` in the catalog)"
        )

    def base_url(self, override: str | None = None) -> str | None:
        """Where the API answers: `override`, else the first server (relative to the
        document's own URL; an absolute one on another host keeps only its path), else the
        document's origin. A repository document: see the class (None: nowhere known)."""
        if override:
            return override.rstrip("/")
        first = self._first_server()
        if self.in_repository:
            if self.live_url:
                return Document(self.live_url, self.data).base_url()
            if first and "{" not in first and first.startswith(("http://", "https://")):
                return first.rstrip("/")
            return None
        own = urlsplit(self.url)
        origin = f"{own.scheme}://{own.netloc}"
        if first and "{" not in first:
            server = urlsplit(urljoin(self.url, first))
            if (
                own.scheme in ("http", "https")
                and server.netloc != own.netloc
                and not own.netloc.endswith(_STATIC_HOSTS)
            ):
                # The document came from the service itself (its /openapi.json): the API is
                # there, under the server's path, whatever host the document was written for.
                return f"{origin}{server.path}".rstrip("/")
            return urljoin(self.url, first).rstrip("/")
        return origin


def json_path(parts: Any) -> str:
    """`$.paths['/a'].get.responses['200']` from a list of keys."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += f".{part}"
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


def parse_document(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise DocumentError(f"{where}: neither JSON nor YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DocumentError(f"{where}: an OpenAPI document is a mapping, not {type(data).__name__}")
    return data


def validate_document(data: dict[str, Any], where: str, *, limit: int = 10) -> list[str]:
    """The document's problems as `JSON path: message` lines (empty: valid)."""
    from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

    version = str(data.get("openapi") or "")
    if not version:
        if "swagger" in data:
            return [
                f"$.swagger: Swagger {data['swagger']} (OpenAPI 2) is not supported: "
                "convert it to OpenAPI 3"
            ]
        return ["$: not an OpenAPI document: no 'openapi' field"]
    validator_class = (
        OpenAPIV31SpecValidator if version.startswith("3.1") else (OpenAPIV30SpecValidator)
    )
    problems = []
    try:
        for error in validator_class(data).iter_errors():
            path = json_path(getattr(error, "absolute_path", None) or [])
            message = str(getattr(error, "message", error)).split("\n", 1)[0]
            problems.append(f"{path}: {message}")
            if len(problems) >= limit:
                break
    except Exception as exc:
        problems.append(f"$: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    return problems


async def fetch_document(url: str, *, timeout: float = FETCH_TIMEOUT_S) -> Document:
    """GET `url` (or read a local path), parse and validate it; a `DocumentError` names
    each problem with its JSON path."""
    if not url.startswith(("http://", "https://")):
        path = Path(url.removeprefix("file://"))
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DocumentError(f"{url}: cannot read: {exc}") from None
    else:
        try:
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as http:
                response = await http.get(url, headers={"Accept": "application/json, */*"})
        except httpx.HTTPError as exc:
            raise DocumentError(f"{url}: cannot fetch the OpenAPI document: {exc!r}") from None
        if response.status_code != 200:
            raise DocumentError(f"{url}: HTTP {response.status_code} for the OpenAPI document")
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise DocumentError(f"{url}: the document is over {MAX_DOCUMENT_BYTES} bytes")
        text = response.text
    return Document(url, _checked(text, url))


def _checked(text: str, where: str) -> dict[str, Any]:
    data = parse_document(text, where)
    problems = validate_document(data, where)
    if problems:
        raise DocumentError(
            f"the OpenAPI document at {where} is not valid:\n" + "\n".join(problems)
        )
    return data


async def read_repository_document(
    forge: Any, repository: str, path: str, *, ref: str = "main", live_url: str | None = None
) -> Document:
    """`path` at `ref` in `repository`, read on `forge`, parsed and validated like a fetched
    document; every `DocumentError` says the repository, path and branch and how to fix it."""
    from workflow.tools.changes import ChangeError, read_repository_file, split_repository

    label = getattr(forge, "label", "the forge")
    try:
        owner, name = split_repository(repository)
        where = f"{owner}/{name}:{path}@{ref}"
        text = await read_repository_file(forge, f"{owner}/{name}", path, ref)
    except ChangeError as exc:
        raise DocumentError(
            f"cannot read the OpenAPI document {path} of {repository} (branch {ref}) on "
            f"{label}: {exc.message}; check that the forge is reachable and can read "
            f"{repository}"
        ) from None
    if text is None:
        raise DocumentError(
            f"{owner}/{name} on {label} has no {path} on branch {ref}: commit the OpenAPI "
            "document there, or correct `openapi_path:` in the service's catalog entry"
        )
    if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"{where}: the document is over {MAX_DOCUMENT_BYTES} bytes")
    return Document(where, _checked(text, where), in_repository=True, live_url=live_url)


@dataclass
class ApiDirectory:
    """Where each service's OpenAPI document is, per environment, and what the bot saw last.

    `catalog` is the service catalog; `sandbox` maps service -> document URL (the sandbox's
    own servers, any environment); `history_dir` keeps the last document a client was
    generated from and the last coverage report seen (in memory when None)."""

    catalog: Any = None
    sandbox: dict[str, str] = field(default_factory=dict)
    coverage_urls: dict[str, str] = field(default_factory=dict)
    history_dir: Path | None = None
    _memory: dict[str, Any] = field(default_factory=dict)

    def entry(self, service: str | None) -> Any:
        return self.catalog.resolve(service) if self.catalog and service else None

    def service_name(self, service: str | None) -> str | None:
        entry = self.entry(service)
        if entry is not None:
            return entry.name
        if service and service in self.sandbox:
            return service
        return service

    def document_url(self, service: str, environment: str | None) -> str | None:
        name = self.service_name(service) or service
        if name in self.sandbox:
            return self.sandbox[name]
        entry = self.entry(service)
        documents = getattr(entry, "openapi", None) or {}
        if not documents:
            return None
        if environment and environment in documents:
            return documents[environment]
        for preferred in ("staging", "dev", "production"):
            if preferred in documents and environment is None:
                return documents[preferred]
        return None

    def environments(self, service: str) -> list[str]:
        entry = self.entry(service)
        return sorted((getattr(entry, "openapi", None) or {}).keys())

    def coverage_url(self, service: str) -> str | None:
        name = self.service_name(service) or service
        if name in self.coverage_urls:
            return self.coverage_urls[name]
        return getattr(self.entry(service), "coverage", None)

    # ---- what the bot saw last (a document a client was made from, a coverage report)

    def remembered(self, kind: str, service: str) -> Any:
        key = f"{kind}.{service}"
        if self.history_dir is None:
            return self._memory.get(key)
        path = self.history_dir / f"{key}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def remember(self, kind: str, service: str, value: Any) -> None:
        key = f"{kind}.{service}"
        if self.history_dir is None:
            self._memory[key] = value
            return
        self.history_dir.mkdir(parents=True, exist_ok=True)
        (self.history_dir / f"{key}.json").write_text(json.dumps(value), encoding="utf-8")


def _environment(context: dict[str, Any]) -> str | None:
    env = context.get("environment")
    if not env and context.get("environments"):
        env = context["environments"][0]
    return canonical_environment(env) if env else None


FORGE = "forge"  # the forge backend (scaffold_agent's) that reads a repository document


async def locate_document(
    directory: ApiDirectory, context: dict[str, Any], what: str, *, deps: Any = None
) -> tuple[str, str | None, Document]:
    """(service, environment, document) of the request: a URL it names, else the catalog's
    (or the sandbox's) document URL of its service in its environment, else the catalog's
    `openapi_path` in its repository, read on the forge of `deps` ("from its repo spec"
    goes there directly). A request that cannot be answered as asked raises the agents'
    `Refusal`, saying how to ask."""
    from workflow.agents.base import Refusal

    env = _environment(context)
    if context.get("spec_text") is not None:
        return uploaded_document(directory, context, env)
    from_repository = context.get("spec_source") == "repository"
    url = None if from_repository else context.get("spec_url")
    service = directory.service_name(context.get("service"))
    try:
        if url:
            document = await fetch_document(url)
            return service or _name_from(document), env, document
        if not service:
            raise Refusal(
                f"which API? name a service, e.g. `{what} checkout`, or paste the URL of its "
                "OpenAPI document"
            )
        live = directory.document_url(service, env)
        if live and not from_repository:
            return service, env, await fetch_document(live)
        path = getattr(directory.entry(service), "openapi_path", None)
        if path:
            return service, env, await _from_repository(directory, deps, service, path, live)
    except DocumentError as exc:
        raise Refusal(str(exc)) from None
    if from_repository:
        raise Refusal(
            f"the catalog names no OpenAPI document in {service}'s repository: add "
            "`openapi_path: api/openapi.yaml` (a file in its `repository:`) to its entry"
        )
    where = directory.environments(service)
    if where:
        raise Refusal(
            f"the catalog names {service}'s OpenAPI document for "
            f"{', '.join(where)}, not {env}: ask for one of those"
        )
    raise Refusal(
        f"the catalog has no OpenAPI document for {service}: add "
        f"`openapi: {{staging: https://.../openapi.json}}` (or `openapi_path: "
        "api/openapi.yaml`, a file in its repository) to its entry, or paste the "
        "document's URL"
    )


async def _from_repository(
    directory: ApiDirectory, deps: Any, service: str, path: str, live: str | None
) -> Document:
    from workflow.agents.base import Refusal

    repository = getattr(directory.entry(service), "repository", None)
    if not repository:
        raise Refusal(
            f"the catalog puts {service}'s OpenAPI document at {path} in its repository, but "
            f"its entry names no `repository:`: add `repository: owner/name` to {service}'s "
            "entry (or give `openapi:` URLs instead)"
        )
    forge = deps.backend(FORGE) if deps is not None else None
    if forge is None:
        why = deps.why_missing(FORGE) if deps is not None else "no forge is configured"
        raise Refusal(
            f"{service}'s OpenAPI document is {path} in {repository}, but {why} "
            "(the document is read on the forge)"
        )
    return await read_repository_document(forge, repository, path, live_url=live)


@dataclass
class _Uploaded(Document):
    """A document handed in as text (a file uploaded with the request): its API answers
    where the service's own document is served, else at its first absolute server."""

    served: str | None = None

    def base_url(self, override: str | None = None) -> str | None:
        if override or self.served:
            return Document(self.served or "", self.data).base_url(override)
        first = self._first_server()
        if first and first.startswith(("http://", "https://")) and "{" not in first:
            return first.rstrip("/")
        return None  # not known: no call is made

    def no_live_url(self) -> str:
        return (
            f"{self.url} names no absolute server URL and the request names no service the "
            "catalog knows, so no live call was made: name the service, e.g. `run the API "
            "tests against checkout in staging`"
        )


def uploaded_document(
    directory: ApiDirectory, context: dict[str, Any], env: str | None
) -> tuple[str, str | None, Document]:
    """The document in `context["spec_text"]` (named `spec_name`), validated like a fetched
    one; its service is the one the request names when the catalog (or sandbox) knows it,
    else the one the document's title names."""
    from workflow.agents.base import Refusal

    where = f"the uploaded {context.get('spec_name') or 'document'}"
    text = str(context["spec_text"])
    if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise Refusal(f"{where} is over {MAX_DOCUMENT_BYTES} bytes")
    try:
        data = parse_document(text, where)
    except DocumentError as exc:
        raise Refusal(str(exc)) from None
    problems = validate_document(data, where)
    if problems:
        raise Refusal(f"{where} is not a valid OpenAPI document:\n" + "\n".join(problems))

    def known(name: str | None) -> bool:
        return bool(name) and (directory.entry(name) is not None or name in directory.sandbox)

    service = directory.service_name(context.get("service"))
    if not known(service):
        service = directory.service_name(_name_from(Document(where, data)))
    served = directory.document_url(service, env) if service and known(service) else None
    return service or "api", env, _Uploaded(where, data, served=served)


def _name_from(document: Document) -> str:
    words = [w for w in document.title.lower().replace("api", " ").split() if w.isalnum()]
    return "-".join(words) or "api"
