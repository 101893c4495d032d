"""The Harness NextGen API client: pipelines, runtime inputs, executions.

One `httpx.AsyncClient` per process, `x-api-key` auth, the account/org/project identifiers
as query parameters on every call. Every answer comes in Harness's envelope
`{status, data, metaData, correlationId}`; an error is `{status: "ERROR", code, message,
metadata}` and becomes a `HarnessError` whose message is a sentence a user can act on (for
`SCHEMA_VALIDATION_FAILED`, the YAML paths Harness named). 429 and 5xx are retried with
backoff (tenacity); the API key is a `SecretStr` and never leaves the request header.

Endpoints (Harness NG API, as harness-go-sdk and Harness's MCP server call them):
get `GET /pipeline/api/pipelines/{id}`, create `POST /pipeline/api/pipelines/v2`, update
`PUT /pipeline/api/pipelines/v2/{id}` (`If-Match: version`), validate
`POST /pipeline/api/pipelines/validate-yaml-with-schema`, runtime inputs
`POST /pipeline/api/inputSets/template`, execute `POST /pipeline/api/pipeline/execute/{id}`,
status `GET /pipeline/api/pipelines/execution/v2/{planExecutionId}`, recent executions
`POST /pipeline/api/pipelines/execution/summary`, abort
`PUT /pipeline/api/pipeline/execute/interrupt/{planExecutionId}?interruptType=AbortAll`,
selected stages `POST /pipeline/api/pipeline/execute/{id}/stages` (JSON `RunStageRequest`:
`runtimeInputYaml`, `stageIdentifiers`; as Harness's generated Python client and its API
reference name it).

CI test results come from the test-intelligence service, which answers without the envelope
(its Go client and types, harness/ti-client): a token first, `GET /ti-service/token`
(`accountId`, `routingId`; the answer is the token, sent back as `X-Harness-Token`, as
Harness's own UI does), then `GET /ti-service/reports/summary`, a bare `{total_tests,
failed_tests, successful_tests, skipped_tests, duration_ms}`, and
`GET /ti-service/reports/test_cases` (`sort`, `order`, `pageIndex`, `pageSize`), a bare
`{data: <page metadata>, content: [test case]}` (a case: `name`, `class_name`, `suite_name`,
`result: {status, message, type, desc}`); both take `accountId`, `orgId`, `projectId`,
`pipelineId`, `buildId` (the run sequence), `stageId` and `report=junit` rather than the
`*Identifier` parameters of the pipeline service. The failed cases are read sorted by status
(`error` and `failed` first when the service sorts as named), page by page (at most 500
cases), until as many as the summary counts are found.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import structlog
from pydantic import BaseModel, SecretStr, ValidationError, field_validator
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from workflow.agents.spec import BackendContext, Connected
from workflow.tools.errors import BackendError

__all__ = [
    "BACKEND",
    "Execution",
    "HarnessClient",
    "HarnessConfig",
    "HarnessError",
    "StoredPipeline",
    "TestReport",
    "connect",
    "valid_identifier",
]

log = structlog.get_logger("devops-bot.harness")

BACKEND = "harness"
DEFAULT_URL = "https://app.harness.io"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,127}")
_EXECUTION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Statuses after which an execution changes no more.
FINAL_STATUSES = frozenset(
    {"Success", "Failed", "Aborted", "Expired", "Errored", "IgnoreFailed", "Skipped"}
)
# Statuses that wait on a person in Harness (its own approval step, a manual intervention).
WAITING_STATUSES = frozenset({"ApprovalWaiting", "InterventionWaiting", "WaitStepRunning"})


def valid_identifier(value: str, what: str = "pipeline identifier") -> str:
    """A Harness identifier, or a `HarnessError` saying what one looks like."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise HarnessError(
            f"invalid Harness {what} {value!r}: letters, digits, '_' and '$', starting with "
            "a letter or '_', at most 128 characters"
        )
    return value


class HarnessError(BackendError):
    """Harness refused or could not be reached; `message` is the sentence to show.

    `code` is Harness's error code (e.g. SCHEMA_VALIDATION_FAILED), `status` the HTTP
    status, `problems` the (fqn, message) pairs of a schema error, `retryable` whether
    asking again later may work.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        problems: list[tuple[str, str]] | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.problems = list(problems or [])
        self.retryable = retryable


class HarnessConfig(BaseModel):
    """The harness_expert's settings, read from the environment the edge passed.

    HARNESS_URL (default https://app.harness.io), HARNESS_ACCOUNT_ID, HARNESS_ORG_ID,
    HARNESS_PROJECT_ID, HARNESS_API_KEY (secret), HARNESS_TIMEOUT (seconds per call),
    HARNESS_FOLLOW_TIMEOUT (seconds an execution is followed before the thread says so,
    default 30 minutes).
    """

    url: str = DEFAULT_URL
    account: str
    org: str
    project: str
    api_key: SecretStr
    timeout: float = 20.0
    follow_timeout: float = 1800.0
    label: str = ""  # how answers name it ("Harness (app.harness.io)" by default)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL, e.g. https://app.harness.io")
        return value.rstrip("/")

    @field_validator("account", "org", "project")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.fullmatch(value) and not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", value):
            raise ValueError(f"{value!r} is not a Harness identifier")
        return value

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> HarnessConfig | str:
        """The settings, or the sentence saying which variable is missing or wrong."""
        names = {
            "account": "HARNESS_ACCOUNT_ID",
            "org": "HARNESS_ORG_ID",
            "project": "HARNESS_PROJECT_ID",
            "api_key": "HARNESS_API_KEY",
        }
        values: dict[str, Any] = {
            key: (environ.get(var) or "").strip() for key, var in names.items()
        }
        missing = [names[k] for k, v in values.items() if not v]
        if len(missing) == len(names):
            return (
                "Harness is not configured: set HARNESS_ACCOUNT_ID, HARNESS_ORG_ID, "
                "HARNESS_PROJECT_ID and HARNESS_API_KEY (and HARNESS_URL for a self-managed "
                "Harness), or use --sandbox for the simulated Harness"
            )
        if missing:
            return f"Harness is not fully configured: {', '.join(missing)} not set"
        for key, var in (
            ("url", "HARNESS_URL"),
            ("timeout", "HARNESS_TIMEOUT"),
            ("follow_timeout", "HARNESS_FOLLOW_TIMEOUT"),
        ):
            if (environ.get(var) or "").strip():
                values[key] = environ[var].strip()
        try:
            return cls(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            var = {**names, "url": "HARNESS_URL", "timeout": "HARNESS_TIMEOUT"}.get(
                str(first["loc"][0]), str(first["loc"][0])
            )
            return f"Harness is misconfigured: {var}: {first['msg'].removeprefix('Value error, ')}"


@dataclass(frozen=True)
class StoredPipeline:
    """A pipeline as Harness keeps it: its YAML and the version an update must name."""

    identifier: str
    name: str
    yaml: str
    version: str


@dataclass
class Execution:
    """One pipeline execution as the status endpoint reports it."""

    id: str
    pipeline: str
    status: str
    run_sequence: int | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)  # identifier, name, status
    failure: str = ""  # Harness's error message when it failed
    started_ms: int | None = None
    ended_ms: int | None = None
    trigger: str = ""  # MANUAL, WEBHOOK, ...
    triggered_by: str = ""
    url: str = ""

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def waiting(self) -> bool:
        return self.status in WAITING_STATUSES

    def failed_stage(self) -> dict[str, Any] | None:
        return next((s for s in self.stages if s.get("status") == "Failed"), None)


@dataclass
class TestReport:
    """A CI stage's published test results (JUnit, as the test-intelligence service sums
    them): counts and the failed cases (name, class, message)."""

    total: int
    failed: int
    passed: int
    skipped: int
    duration_ms: int | None = None
    failures: list[dict[str, str]] = field(default_factory=list)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, HarnessError) and exc.retryable


class HarnessClient:
    """Harness's pipeline service for one account/org/project."""

    def __init__(
        self,
        config: HarnessConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        attempts: int = 4,
        backoff: float = 0.5,
        poll_interval: float = 2.0,
    ) -> None:
        self.config = config
        self.attempts, self.backoff = attempts, backoff
        self.poll_interval = poll_interval  # between reads of a followed execution
        host = re.sub(r"^https?://", "", config.url)
        self.label = config.label or f"Harness ({host})"
        self._http = httpx.AsyncClient(
            base_url=config.url,
            timeout=config.timeout,
            transport=transport,
            headers={"x-api-key": config.api_key.get_secret_value(), "Accept": "application/json"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # -------------------------------------------------------------- pipelines

    async def get_pipeline(self, identifier: str) -> StoredPipeline | None:
        """The pipeline and its version, or None when Harness has no such pipeline."""
        valid_identifier(identifier)
        try:
            data = await self._call("GET", f"/pipeline/api/pipelines/{identifier}")
        except HarnessError as exc:
            if exc.status == 404 or exc.code in {"PIPELINE_DOES_NOT_EXIST", "ENTITY_NOT_FOUND"}:
                return None
            raise
        data = data or {}
        return StoredPipeline(
            identifier=identifier,
            name=str(data.get("name") or identifier),
            yaml=str(data.get("yamlPipeline") or ""),
            version=str(data.get("version") or ""),
        )

    async def create_pipeline(self, yaml_text: str) -> dict[str, Any]:
        return await self._call("POST", "/pipeline/api/pipelines/v2", yaml_body=yaml_text) or {}

    async def update_pipeline(
        self, identifier: str, yaml_text: str, *, version: str
    ) -> dict[str, Any]:
        """Replace the pipeline, only if Harness still has `version` of it."""
        valid_identifier(identifier)
        return (
            await self._call(
                "PUT",
                f"/pipeline/api/pipelines/v2/{identifier}",
                yaml_body=yaml_text,
                headers={"If-Match": version},
            )
            or {}
        )

    async def validate(self, yaml_text: str) -> None:
        """Harness's own schema check; raises `HarnessError` (code SCHEMA_VALIDATION_FAILED,
        `problems`) when the YAML is invalid."""
        await self._call(
            "POST", "/pipeline/api/pipelines/validate-yaml-with-schema", yaml_body=yaml_text
        )

    async def input_template(self, identifier: str, stages: list[str] | None = None) -> str:
        """The runtime-input template of the pipeline (YAML; empty when it takes none); with
        `stages`, of those stages only (and the pipeline's own inputs)."""
        valid_identifier(identifier)
        data = await self._call(
            "POST",
            "/pipeline/api/inputSets/template",
            params={"pipelineIdentifier": identifier},
            json={"stageIdentifiers": list(stages or [])},
        )
        return str((data or {}).get("inputSetTemplateYaml") or "")

    # -------------------------------------------------------------- executions

    async def execute(self, identifier: str, inputs_yaml: str) -> Execution:
        """Start the pipeline with these runtime inputs (the `pipeline:` subtree of an
        input set, as YAML)."""
        valid_identifier(identifier)
        data = await self._call(
            "POST",
            f"/pipeline/api/pipeline/execute/{identifier}",
            params={"moduleType": "CD"},
            yaml_body=inputs_yaml,
        )
        return self._started(identifier, data)

    def _started(self, identifier: str, data: Any) -> Execution:
        plan = (data or {}).get("planExecution") or {}
        execution_id = str(plan.get("uuid") or "")
        if not execution_id:
            raise HarnessError(f"{self.label} started no execution of {identifier}")
        return Execution(
            id=execution_id,
            pipeline=identifier,
            status=str(plan.get("status") or "Running"),
            url=self.execution_url(identifier, execution_id),
        )

    async def execute_stages(
        self, identifier: str, stages: list[str], inputs_yaml: str
    ) -> Execution:
        """Start only these stages of the pipeline (Harness's selective stage execution)."""
        valid_identifier(identifier)
        for stage in stages:
            valid_identifier(stage, "stage identifier")
        if not stages:
            raise HarnessError(f"no stage of {identifier} was selected to run")
        data = await self._call(
            "POST",
            f"/pipeline/api/pipeline/execute/{identifier}/stages",
            params={"moduleType": "CI"},
            json={"runtimeInputYaml": inputs_yaml, "stageIdentifiers": list(stages)},
        )
        return self._started(identifier, data)

    async def test_report(
        self, pipeline: str, run_sequence: int, stage: str, *, failures: int = 20
    ) -> TestReport | None:
        """The test results the CI stage published in run `run_sequence` of the pipeline,
        with up to `failures` failed cases; None when it published none."""
        valid_identifier(pipeline)
        valid_identifier(stage, "stage identifier")
        token = await self._call(
            "GET", "/ti-service/token", params={"orgId": None, "projectId": None}, ti=True
        )
        if not isinstance(token, str) or not token.strip():
            raise HarnessError(f"{self.label} gave no test-intelligence token")
        auth = {"X-Harness-Token": token.strip().strip('"')}
        scope = {
            "pipelineId": pipeline,
            "buildId": int(run_sequence),
            "stageId": stage,
            "report": "junit",
        }
        summary = await self._call(
            "GET", "/ti-service/reports/summary", params=scope, ti=True, headers=auth
        )
        summary = summary if isinstance(summary, dict) else {}
        total = _count(summary.get("total_tests"))
        if not total:
            return None
        failed = _count(summary.get("failed_tests"))
        report = TestReport(
            total=total,
            failed=failed,
            passed=_count(summary.get("successful_tests")),
            skipped=_count(summary.get("skipped_tests")),
            duration_ms=summary.get("duration_ms"),
        )
        size = 100
        for index in range(_TEST_CASE_PAGES):
            if not failed or len(report.failures) >= min(failed, failures):
                break
            page = await self._call(
                "GET",
                "/ti-service/reports/test_cases",
                params={
                    **scope,
                    "sort": "status",
                    "order": "ASC",
                    "pageIndex": index,
                    "pageSize": size,
                },
                ti=True,
                headers=auth,
            )
            cases = (page.get("content") or []) if isinstance(page, dict) else []
            for case in cases:
                result = case.get("result") or {}
                if str(result.get("status") or "") not in {"failed", "error"}:
                    continue
                if len(report.failures) < failures:
                    report.failures.append(
                        {
                            "name": str(case.get("name") or ""),
                            "class_name": str(case.get("class_name") or ""),
                            "message": str(result.get("message") or result.get("desc") or ""),
                        }
                    )
            if len(cases) < size:
                break
        return report

    async def execution(self, execution_id: str) -> Execution:
        _valid_execution(execution_id)
        data = await self._call("GET", f"/pipeline/api/pipelines/execution/v2/{execution_id}")
        summary = (data or {}).get("pipelineExecutionSummary") or {}
        return self._execution(summary)

    async def executions(self, identifier: str, *, size: int = 5) -> list[Execution]:
        """The pipeline's latest executions, newest first."""
        valid_identifier(identifier)
        data = await self._call(
            "POST",
            "/pipeline/api/pipelines/execution/summary",
            params={"pipelineIdentifier": identifier, "page": 0, "size": size},
            json={"filterType": "PipelineExecution"},
        )
        return [self._execution(item) for item in (data or {}).get("content") or []]

    async def execution_inputs(self, execution_id: str) -> str:
        """The runtime inputs (input set YAML) an execution ran with."""
        _valid_execution(execution_id)
        data = await self._call(
            "GET", f"/pipeline/api/pipelines/execution/{execution_id}/inputsetV2"
        )
        return str((data or {}).get("inputSetYaml") or "")

    async def rerun(self, identifier: str, execution_id: str, inputs_yaml: str) -> Execution:
        """Run the pipeline again as `execution_id` ran (its inputs)."""
        valid_identifier(identifier)
        _valid_execution(execution_id)
        data = await self._call(
            "POST",
            f"/pipeline/api/pipeline/execute/rerun/{execution_id}/{identifier}",
            params={"moduleType": "CD"},
            yaml_body=inputs_yaml,
        )
        return self._started(identifier, data)

    async def abort(self, execution_id: str) -> None:
        _valid_execution(execution_id)
        await self._call(
            "PUT",
            f"/pipeline/api/pipeline/execute/interrupt/{execution_id}",
            params={"interruptType": "AbortAll"},
        )

    def execution_url(self, pipeline: str, execution_id: str) -> str:
        c = self.config
        return (
            f"{c.url}/ng/account/{quote(c.account)}/module/cd/orgs/{quote(c.org)}/projects/"
            f"{quote(c.project)}/pipelines/{quote(pipeline)}/executions/{quote(execution_id)}"
            "/pipeline"
        )

    def pipeline_url(self, pipeline: str) -> str:
        c = self.config
        return (
            f"{c.url}/ng/account/{quote(c.account)}/module/cd/orgs/{quote(c.org)}/projects/"
            f"{quote(c.project)}/pipelines/{quote(pipeline)}/pipeline-studio"
        )

    def _execution(self, summary: dict[str, Any]) -> Execution:
        pipeline = str(summary.get("pipelineIdentifier") or "")
        execution_id = str(summary.get("planExecutionId") or "")
        trigger = summary.get("executionTriggerInfo") or {}
        failure = (summary.get("failureInfo") or {}).get("message") or ""
        return Execution(
            id=execution_id,
            pipeline=pipeline,
            status=str(summary.get("status") or "Unknown"),
            run_sequence=summary.get("runSequence"),
            stages=_stages(summary),
            failure=str(failure),
            started_ms=summary.get("startTs"),
            ended_ms=summary.get("endTs"),
            trigger=str(trigger.get("triggerType") or ""),
            triggered_by=str((trigger.get("triggeredBy") or {}).get("identifier") or ""),
            url=self.execution_url(pipeline, execution_id) if pipeline and execution_id else "",
        )

    # -------------------------------------------------------------- transport

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        yaml_body: str | None = None,
        headers: dict[str, str] | None = None,
        ti: bool = False,
    ) -> Any:
        """One call, retried on 429/5xx; `ti`: the test-intelligence service (its own
        scope parameters, its answer not in the envelope)."""
        if ti:
            scope = {
                "accountId": self.config.account,
                "routingId": self.config.account,
                "orgId": self.config.org,
                "projectId": self.config.project,
            }
        else:
            scope = {
                "accountIdentifier": self.config.account,
                "orgIdentifier": self.config.org,
                "projectIdentifier": self.config.project,
            }
        query = {k: v for k, v in {**scope, **(params or {})}.items() if v is not None}
        send_headers = dict(headers or {})
        content = None
        if yaml_body is not None:
            send_headers["Content-Type"] = "application/yaml"
            content = yaml_body.encode()
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff, max=8),
            retry=retry_if_exception(_retryable),
            reraise=True,
        ):
            with attempt:
                return await self._once(method, path, query, json, content, send_headers, ti)
        raise AssertionError("unreachable")  # reraise=True: the last error propagates

    async def _once(
        self,
        method: str,
        path: str,
        query: dict[str, Any],
        json: Any,
        content: bytes | None,
        headers: dict[str, str],
        ti: bool = False,
    ) -> Any:
        try:
            response = await self._http.request(
                method, path, params=query, json=json, content=content, headers=headers
            )
        except httpx.TimeoutException:
            raise HarnessError(
                f"{self.label} did not answer within {self.config.timeout:g} s", retryable=True
            ) from None
        except httpx.HTTPError as exc:
            raise HarnessError(
                f"{self.label} is unreachable ({type(exc).__name__}); check HARNESS_URL",
                retryable=True,
            ) from None
        log.debug("harness.call", method=method, path=path, status=response.status_code)
        try:
            body = response.json()
        except ValueError:
            body = None
        if ti and response.is_success:
            return body if body is not None else response.text
        if response.is_success and isinstance(body, dict) and body.get("status") != "ERROR":
            return body.get("data")
        raise self._error(response.status_code, body if isinstance(body, dict) else {})

    def _error(self, status: int, body: dict[str, Any]) -> HarnessError:
        code = str(body.get("code") or "") or None
        message = str(body.get("message") or body.get("error_msg") or "").strip()
        problems = _schema_problems(body.get("metadata"))
        if status == 401:
            text = f"{self.label} refused the API key (401): check HARNESS_API_KEY"
        elif status == 403:
            text = (
                f"{self.label} denied access (403): the API key's role cannot do this in "
                f"project {self.config.project}"
            )
        elif status == 429:
            text = f"{self.label} is rate-limiting requests (429); try again in a minute"
        elif status >= 500:
            text = f"{self.label} failed ({status}{', ' + message if message else ''})"
        elif problems:
            where = "; ".join(f"{fqn}: {msg}" for fqn, msg in problems[:8])
            text = f"{self.label} says the pipeline YAML is invalid: {where}"
        else:
            text = f"{self.label} refused it ({code or status}): {message or 'no reason given'}"
        return HarnessError(
            text, code=code, status=status, problems=problems, retryable=status in _RETRY
        )


_RETRY = frozenset({429, 500, 502, 503, 504})
_TEST_CASE_PAGES = 5  # pages of 100 test cases read at most for the failed ones


def _count(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _valid_execution(execution_id: str) -> None:
    if not isinstance(execution_id, str) or not _EXECUTION_ID.fullmatch(execution_id):
        raise HarnessError(f"invalid Harness execution id {execution_id!r}")


def _schema_problems(metadata: Any) -> list[tuple[str, str]]:
    """(fqn, message) of each error in a YamlSchemaErrorWrapperDTO."""
    if not isinstance(metadata, dict):
        return []
    out = []
    for error in metadata.get("schemaErrors") or []:
        if isinstance(error, dict):
            fqn = str(error.get("fqn") or "$")
            message = str(error.get("message") or error.get("hintMessage") or "invalid")
            out.append((fqn, message))
    return out


def _stages(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The stages of an execution in pipeline order, from its layout graph."""
    nodes = summary.get("layoutNodeMap") or {}
    order: list[str] = []
    seen: set[str] = set()
    pending = [summary.get("startingNodeId")]
    while pending:
        node_id = pending.pop(0)
        if not node_id or node_id in seen or node_id not in nodes:
            continue
        seen.add(node_id)
        node = nodes[node_id]
        edges = node.get("edgeLayoutList") or {}
        children = list(edges.get("currentNodeChildren") or [])
        if node.get("nodeGroup") == "STAGE" and node.get("nodeType") != "parallel":
            order.append(node_id)
        pending = children + list(edges.get("nextIds") or []) + pending
    order += [n for n, node in nodes.items() if n not in seen and node.get("nodeGroup") == "STAGE"]
    return [
        {
            "identifier": nodes[n].get("nodeIdentifier") or n,
            "name": nodes[n].get("name") or nodes[n].get("nodeIdentifier") or n,
            "type": nodes[n].get("nodeType") or "",
            "status": nodes[n].get("status") or "NotStarted",
            "failure": ((nodes[n].get("failureInfo") or {}).get("message") or ""),
        }
        for n in order
    ]


@contextlib.asynccontextmanager
async def connect(context: BackendContext) -> AsyncIterator[Connected]:
    """The Harness client from HARNESS_* settings; with the sandbox and no Harness
    configured, the sandbox's simulated Harness (deploying to the sandbox cluster)."""
    config = HarnessConfig.from_environ(context.environ)
    if isinstance(config, str) and context.sandbox:
        from workflow.agents.harness_expert.sandbox_api import open_sandbox_harness

        async with open_sandbox_harness(context) as client:
            yield Connected(backends={BACKEND: client})
        return
    if isinstance(config, str):
        yield Connected(unavailable={BACKEND: config})
        return
    client = HarnessClient(config)
    try:
        yield Connected(backends={BACKEND: client})
    finally:
        await client.aclose()
