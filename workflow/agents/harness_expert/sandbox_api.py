"""The sandbox's simulated Harness: the pipeline service's HTTP API, deploying to the sandbox
cluster.

It answers the endpoints `HarnessClient` calls, in Harness's envelope and error shapes:
pipelines are kept with a version (an update naming another version is refused), YAML is
checked by the same rules the product uses (`rules.check_pipeline`, or the `validate`
callable a test gives it: the official schema) and refused as `SCHEMA_VALIDATION_FAILED`
with the failing paths, runtime inputs get a template, and executions run stage by stage.

Executions are evaluated lazily from the time elapsed (like the sandbox cluster's rollouts),
so a run started by one process can be followed by the next: a CI or custom stage takes
`stage_seconds`; a `HarnessApproval` stage waits (`ApprovalWaiting`) until aborted; a
Kubernetes `Deployment` stage patches the sandbox cluster's Deployment of the stage's service
(found through the catalog's Harness refs) to the image tag of the pipeline variable
`image_tag`, over the cluster's own API, and succeeds when its rollout completes (fails when
the Deployment exceeds its progress deadline or the step's timeout passes).

A CI stage of a pipeline listed in `SANDBOX_TEST_RESULTS` (the seeded `ledger_ci`) publishes
those fixed, clearly simulated JUnit results when it ends (and fails when one of them failed,
as a Run step whose pytest exits 1 does); they are served by the test-intelligence endpoints
(`/ti-service/reports/summary`, `/ti-service/reports/test_cases`), bare JSON as Harness's
ti-service answers. `POST .../pipeline/execute/{id}/stages` runs only the selected stages.

Test knobs: `refuse_next` (HTTP statuses answered once each before the real answer, e.g. 429)
and `fail_stages` (stage identifier -> the error message that stage fails with).
"""

from __future__ import annotations

import contextlib
import copy
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from aiohttp import web

from workflow.agents.harness_expert.client import HarnessClient, HarnessConfig
from workflow.agents.harness_expert.inputs import input_template, merge_inputs
from workflow.agents.spec import BackendContext
from workflow.environments import canonical_environment
from workflow.sandbox._serve import ThreadedServer
from workflow.sandbox._state import SharedStateFile

__all__ = [
    "SANDBOX_ACCOUNT",
    "SANDBOX_KEY",
    "SANDBOX_ORG",
    "SANDBOX_PROJECT",
    "SANDBOX_TEST_RESULTS",
    "SandboxHarness",
    "fresh_state",
    "open_sandbox_harness",
    "state_file",
]

SANDBOX_ACCOUNT, SANDBOX_ORG, SANDBOX_PROJECT = "sandbox", "default", "devops_bot_sandbox"
SANDBOX_KEY = "pat.sandbox.devops-bot"  # not a secret: the simulated Harness's own key
_FORMAT = "devops-bot-sandbox-harness/1"
_SEED = Path(__file__).parent / "sandbox"
_PIPELINE_ROOT = "/pipeline/api"
_STATE_NAME = "sandbox-harness.json"

# What a CI stage of these pipelines publishes in the sandbox: fixed, so a test can say it.
_LEDGER_PASSED = [
    ("test_post_entry_balances", "tests.unit.test_postings"),
    ("test_reverse_entry", "tests.unit.test_postings"),
    ("test_idempotent_post", "tests.unit.test_postings"),
    ("test_currency_mismatch_refused", "tests.unit.test_postings"),
    ("test_open_period", "tests.unit.test_periods"),
    ("test_close_period", "tests.unit.test_periods"),
    ("test_closed_period_refuses_posts", "tests.unit.test_periods"),
    ("test_trial_balance_sums_to_zero", "tests.unit.test_reports"),
    ("test_account_statement", "tests.unit.test_reports"),
    ("test_export_csv", "tests.unit.test_reports"),
    ("test_fx_rate_lookup", "tests.unit.test_fx"),
]
SANDBOX_TEST_RESULTS: dict[str, list[dict[str, Any]]] = {
    "ledger_ci": [
        *(
            {"name": n, "class_name": c, "status": "passed", "message": ""}
            for n, c in _LEDGER_PASSED
        ),
        {
            "name": "test_rounding_half_even",
            "class_name": "tests.unit.test_fx",
            "status": "failed",
            "message": "[sandbox] AssertionError: assert Decimal('0.13') == Decimal('0.12') "
            "(0.125 EUR rounded half-up, expected half-even)",
        },
        {
            "name": "test_fx_rates_live",
            "class_name": "tests.unit.test_fx",
            "status": "skipped",
            "message": "[sandbox] needs network access",
        },
    ]
}

Validate = Callable[[str], list[tuple[str, str]]]


def state_file(data_dir: Path) -> Path:
    return Path(data_dir) / _STATE_NAME


def _seed_pipelines() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(_SEED.glob("*.yaml")):
        text = path.read_text()
        doc = yaml.safe_load(text)["pipeline"]
        out[doc["identifier"]] = {"yaml": text, "version": "1", "name": doc["name"]}
    return out


def fresh_state() -> dict[str, Any]:
    """The state a new (or reset) sandbox Harness starts from: the seeded pipelines."""
    return {"format": _FORMAT, "pipelines": _seed_pipelines(), "executions": {}}


def _rules(text: str) -> list[tuple[str, str]]:
    from workflow.agents.harness_expert.rules import check_pipeline

    return [(p.fqn, p.message) for p in check_pipeline(text)]


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str, metadata: Any = None):
        super().__init__(message)
        self.status, self.code, self.message, self.metadata = status, code, message, metadata


class SandboxHarness(ThreadedServer):
    """`SandboxHarness(kube_url=..., catalog=...).start()` returns the base URL."""

    _label = "sandbox Harness"

    def __init__(
        self,
        *,
        kube_url: str | None,
        catalog: Any = None,
        state_path: Path | None = None,
        validate: Validate | None = None,
        api_key: str = SANDBOX_KEY,
        stage_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.kube_url = kube_url
        self.catalog = catalog
        self.validate: Validate = validate or _rules
        self.api_key = api_key
        self.stage_seconds = stage_seconds
        self.clock = clock
        self.refuse_next: list[int] = []
        self.fail_stages: dict[str, str] = {}
        self.calls: list[dict[str, Any]] = []
        self.pipelines: dict[str, dict[str, Any]] = _seed_pipelines()
        self.executions: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._shared = SharedStateFile(
            state_path, format=_FORMAT, what="sandbox Harness", on_reload=self._reload
        )
        self._shared.refresh()

    # ------------------------------------------------------------ state

    def _reload(self, data: dict[str, Any]) -> None:
        self.pipelines = dict(data.get("pipelines") or {})
        self.executions = dict(data.get("executions") or {})

    def _save(self) -> None:
        self._shared.save(
            {"format": _FORMAT, "pipelines": self.pipelines, "executions": self.executions}
        )

    def reset(self) -> None:
        with self._lock, self._shared.locked():
            self.pipelines, self.executions = _seed_pipelines(), {}
            self._save()

    # ------------------------------------------------------------ HTTP

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=2 * 1024 * 1024)
        r, p = app.router, _PIPELINE_ROOT
        r.add_get(p + "/pipelines/{id}", self._get_pipeline)
        r.add_post(p + "/pipelines/v2", self._create_pipeline)
        r.add_put(p + "/pipelines/v2/{id}", self._update_pipeline)
        r.add_post(p + "/pipelines/validate-yaml-with-schema", self._validate)
        r.add_post(p + "/inputSets/template", self._template)
        r.add_post(p + "/pipeline/execute/{id}", self._execute)
        r.add_post(p + "/pipeline/execute/rerun/{eid}/{id}", self._execute)
        r.add_get(p + "/pipelines/execution/{eid}/inputsetV2", self._inputs)
        r.add_get(p + "/pipelines/execution/v2/{eid}", self._execution)
        r.add_post(p + "/pipelines/execution/summary", self._summary)
        r.add_put(p + "/pipeline/execute/interrupt/{eid}", self._interrupt)
        r.add_post(p + "/pipeline/execute/{id}/stages", self._execute)
        r.add_get("/ti-service/token", self._ti_token)
        r.add_get("/ti-service/reports/summary", self._ti_summary)
        r.add_get("/ti-service/reports/test_cases", self._ti_cases)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.calls.append({"method": request.method, "path": request.path})
        try:
            if self.refuse_next:
                status = self.refuse_next.pop(0)
                raise _Refused(
                    status,
                    "TOO_MANY_REQUESTS" if status == 429 else "UNKNOWN_ERROR",
                    "simulated refusal",
                )
            if request.headers.get("x-api-key") != self.api_key:
                raise _Refused(401, "INVALID_CREDENTIAL", "Invalid API token")
            q = request.query
            ti = request.path.startswith("/ti-service/")
            scope = ("accountId", "orgId", "projectId") if ti else _SCOPE
            want = (SANDBOX_ACCOUNT, SANDBOX_ORG, SANDBOX_PROJECT)
            if request.path == "/ti-service/token":  # account-wide: no org or project
                scope, want = ("accountId", "routingId"), (SANDBOX_ACCOUNT, SANDBOX_ACCOUNT)
            elif ti and request.headers.get("X-Harness-Token") != _TI_TOKEN:
                raise _Refused(401, "INVALID_TOKEN", "missing or invalid X-Harness-Token")
            if tuple(q.get(k) for k in scope) != want:
                raise _Refused(
                    404,
                    "RESOURCE_NOT_FOUND_EXCEPTION",
                    f"Project {q.get(scope[2])} in org {q.get(scope[1])} does not exist",
                )
            data = await handler(request)
            if isinstance(data, web.Response):
                return data
            return web.json_response(data) if ti else _envelope(data)
        except _Refused as exc:
            body = {
                "status": "ERROR",
                "code": exc.code,
                "message": exc.message,
                "correlationId": uuid.uuid4().hex,
                "detailedMessage": None,
                "responseMessages": [],
                "metadata": exc.metadata,
            }
            return web.json_response(body, status=exc.status)

    async def _text(self, request: web.Request) -> str:
        return (await request.read()).decode("utf-8", "replace")

    def _pipeline(self, pid: str) -> dict[str, Any]:
        stored = self.pipelines.get(pid)
        if stored is None:
            raise _Refused(
                404,
                "ENTITY_NOT_FOUND",
                f"Pipeline [{pid}] under Project[{SANDBOX_PROJECT}], Organization "
                f"[{SANDBOX_ORG}] doesn't exist or has been deleted.",
            )
        return stored

    def _checked(self, text: str) -> dict[str, Any]:
        """The `pipeline:` mapping of valid YAML, or SCHEMA_VALIDATION_FAILED."""
        problems = self.validate(text)
        if problems:
            raise _Refused(
                400,
                "SCHEMA_VALIDATION_FAILED",
                "Invalid yaml",
                {
                    "type": "YamlSchemaErrorWrapperDTO",
                    "schemaErrors": [
                        {"message": m, "fqn": f, "hintMessage": None} for f, m in problems
                    ],
                },
            )
        doc = yaml.safe_load(text)["pipeline"]
        if (doc.get("projectIdentifier"), doc.get("orgIdentifier")) != (
            SANDBOX_PROJECT,
            SANDBOX_ORG,
        ):
            raise _Refused(
                400,
                "INVALID_REQUEST",
                f"Project Identifier in YAML [{doc.get('projectIdentifier')}] and org "
                f"[{doc.get('orgIdentifier')}] do not match the query "
                f"[{SANDBOX_PROJECT}], [{SANDBOX_ORG}]",
            )
        return doc

    async def _get_pipeline(self, request: web.Request) -> Any:
        with self._lock, self._shared.locked():
            stored = self._pipeline(request.match_info["id"])
            return {
                "yamlPipeline": stored["yaml"],
                "version": int(stored["version"]),
                "name": stored["name"],
                "identifier": request.match_info["id"],
                "modules": ["cd"],
            }

    async def _create_pipeline(self, request: web.Request) -> Any:
        text = await self._text(request)
        doc = self._checked(text)
        with self._lock, self._shared.locked():
            pid = doc["identifier"]
            if pid in self.pipelines:
                raise _Refused(
                    400,
                    "DUPLICATE_FIELD",
                    f"Pipeline [{pid}] under Project[{SANDBOX_PROJECT}], Organization "
                    f"[{SANDBOX_ORG}] already exists or has been deleted.",
                )
            self.pipelines[pid] = {"yaml": text, "version": "1", "name": doc.get("name") or pid}
            self._save()
            return {"identifier": pid, "governanceMetadata": {"status": "pass"}}

    async def _update_pipeline(self, request: web.Request) -> Any:
        pid = request.match_info["id"]
        text = await self._text(request)
        doc = self._checked(text)
        if doc["identifier"] != pid:
            raise _Refused(
                400,
                "INVALID_REQUEST",
                f"Pipeline Identifier in the query Params [{pid}] and in the YAML "
                f"[{doc['identifier']}] do not match",
            )
        with self._lock, self._shared.locked():
            stored = self._pipeline(pid)
            if_match = request.headers.get("If-Match")
            if if_match is not None and if_match != stored["version"]:
                raise _Refused(
                    400,
                    "INVALID_REQUEST",
                    f"Pipeline [{pid}] under Project[{SANDBOX_PROJECT}], Organization "
                    f"[{SANDBOX_ORG}] couldn't be updated or doesn't exist.",
                )
            version = str(int(stored["version"]) + 1)
            self.pipelines[pid] = {"yaml": text, "version": version, "name": doc.get("name")}
            self._save()
            return {"identifier": pid, "governanceMetadata": {"status": "pass"}}

    async def _validate(self, request: web.Request) -> Any:
        self._checked(await self._text(request))
        return "valid"

    async def _template(self, request: web.Request) -> Any:
        pid = request.query.get("pipelineIdentifier") or ""
        body = await request.json() if request.can_read_body else {}
        selected = list((body or {}).get("stageIdentifiers") or [])
        with self._lock, self._shared.locked():
            stored = self._pipeline(pid)
        text = stored["yaml"]
        if selected:
            text = yaml.safe_dump(_only_stages(yaml.safe_load(text), selected), sort_keys=False)
        template = input_template(text)
        return {"inputSetTemplateYaml": template, "hasInputSets": False}

    async def _execute(self, request: web.Request) -> Any:
        pid = request.match_info["id"]
        selected: list[str] = []
        if request.path.endswith("/stages"):  # RunStageRequest (JSON)
            body = await request.json()
            inputs = str(body.get("runtimeInputYaml") or "")
            selected = [str(s) for s in body.get("stageIdentifiers") or []]
            if not selected:
                raise _Refused(400, "INVALID_REQUEST", "stageIdentifiers must not be empty")
        else:
            inputs = await self._text(request)
        with self._lock, self._shared.locked():
            stored = self._pipeline(pid)
            if selected:
                known = {str(s.get("identifier")) for s in _flat_stages(
                    yaml.safe_load(stored["yaml"])["pipeline"])}  # fmt: skip
                unknown = [s for s in selected if s not in known]
                if unknown:
                    raise _Refused(
                        400, "INVALID_REQUEST", f"Stage(s) {', '.join(unknown)} not in {pid}"
                    )
            if "eid" in request.match_info:  # a re-run: of an execution of this pipeline
                original = self._execution_record(request.match_info["eid"])
                if original["pipeline"] != pid:
                    raise _Refused(
                        400, "INVALID_REQUEST", f"execution {original['id']} is not of {pid}"
                    )
            try:
                resolved = merge_inputs(stored["yaml"], inputs)
            except ValueError as exc:
                raise _Refused(400, "INVALID_REQUEST", str(exc)) from None
            doc = yaml.safe_load(resolved)["pipeline"]
            if selected:
                doc = _only_stages({"pipeline": doc}, selected)["pipeline"]
            now = self.clock()
            eid = uuid.uuid4().hex[:22]
            sequence = 1 + max(
                (e["sequence"] for e in self.executions.values() if e["pipeline"] == pid),
                default=0,
            )
            self.executions[eid] = {
                "id": eid,
                "pipeline": pid,
                "name": stored["name"],
                "sequence": sequence,
                "status": "Running",
                "inputs": inputs,
                "started": now,
                "ended": None,
                "failure": "",
                "variables": {
                    str(v.get("name")): v.get("value") for v in doc.get("variables") or []
                },
                "stages": [_stage_record(s, doc) for s in _flat_stages(doc)],
                "tests": {},
            }
            self._save()
        return {"planExecution": {"uuid": eid, "status": "RUNNING"}}

    async def _inputs(self, request: web.Request) -> Any:
        with self._lock, self._shared.locked():
            execution = self._execution_record(request.match_info["eid"])
            return {"inputSetYaml": execution.get("inputs", ""), "inputSetTemplateYaml": ""}

    async def _execution(self, request: web.Request) -> Any:
        eid = request.match_info["eid"]
        execution = await self._advanced(eid)
        return {"pipelineExecutionSummary": _summary(execution)}

    async def _summary(self, request: web.Request) -> Any:
        pid = request.query.get("pipelineIdentifier")
        size = int(request.query.get("size") or 20)
        with self._lock, self._shared.locked():
            ids = [
                e["id"]
                for e in sorted(self.executions.values(), key=lambda e: -e["started"])
                if not pid or e["pipeline"] == pid
            ][:size]
        content = [_summary(await self._advanced(eid)) for eid in ids]
        return {"content": content, "totalElements": len(content), "pageSize": size}

    async def _interrupt(self, request: web.Request) -> Any:
        eid = request.match_info["eid"]
        if request.query.get("interruptType") != "AbortAll":
            raise _Refused(400, "INVALID_REQUEST", "only AbortAll is supported by the sandbox")
        await self._advanced(eid)
        with self._lock, self._shared.locked():
            execution = self._execution_record(eid)
            if execution["status"] in _FINAL:
                raise _Refused(
                    400,
                    "INVALID_REQUEST",
                    f"Execution {eid} has already finished ({execution['status']})",
                )
            for stage in execution["stages"]:
                if stage["status"] not in _FINAL:
                    stage["status"] = "Aborted"
            execution.update(status="Aborted", ended=self.clock())
            self._save()
        return {"id": uuid.uuid4().hex, "interruptType": "AbortAll", "planExecutionId": eid}

    async def _ti_token(self, request: web.Request) -> Any:
        return web.Response(text=_TI_TOKEN, content_type="text/plain")

    async def _ti_summary(self, request: web.Request) -> Any:
        cases = self._ti_results(request)
        return {
            "total_tests": len(cases),
            "failed_tests": sum(c["status"] in ("failed", "error") for c in cases),
            "successful_tests": sum(c["status"] == "passed" for c in cases),
            "skipped_tests": sum(c["status"] == "skipped" for c in cases),
            "duration_ms": 1000 * len(cases),
        }

    async def _ti_cases(self, request: web.Request) -> Any:
        cases = self._ti_results(request)
        if request.query.get("sort") == "status":
            descending = request.query.get("order", "ASC").upper() == "DESC"
            cases = sorted(cases, key=lambda c: c["status"], reverse=descending)
        size = int(request.query.get("pageSize") or 100)
        index = int(request.query.get("pageIndex") or 0)
        page = cases[index * size : (index + 1) * size]
        content = [
            {
                "name": c["name"],
                "class_name": c["class_name"],
                "suite_name": c["class_name"],
                "result": {"status": c["status"], "message": c["message"], "type": "", "desc": ""},
                "duration_ms": 1000,
                "stdout": "",
                "stderr": "",
            }
            for c in page
        ]
        meta = {
            "totalPages": max(1, -(-len(cases) // size)),
            "totalItems": len(cases),
            "pageItemCount": len(page),
            "pageSize": size,
        }
        return {"data": meta, "content": content}

    def _ti_results(self, request: web.Request) -> list[dict[str, Any]]:
        """The results a CI stage of build `buildId` (run sequence) of `pipelineId` published
        (none yet, or none at all: an empty list, as the real service answers zeros)."""
        q = request.query
        with self._lock, self._shared.locked():
            for execution in self.executions.values():
                if execution["pipeline"] == q.get("pipelineId") and str(
                    execution["sequence"]
                ) == str(q.get("buildId")):
                    tests = execution.get("tests") or {}
                    if q.get("stageId"):
                        return list(tests.get(q["stageId"]) or [])
                    return [c for stage in tests.values() for c in stage]
        return []

    def _execution_record(self, eid: str) -> dict[str, Any]:
        execution = self.executions.get(eid)
        if execution is None:
            raise _Refused(
                404, "ENTITY_NOT_FOUND", f"Plan Execution Summary does not exist for id {eid}"
            )
        return execution

    # ------------------------------------------------------------ executions

    async def _advanced(self, eid: str) -> dict[str, Any]:
        """The execution, moved on by the time elapsed (stage by stage)."""
        for _ in range(20):  # a stage may finish and the next start in one read
            with self._lock, self._shared.locked():
                execution = copy.deepcopy(self._execution_record(eid))
            if execution["status"] in _FINAL:
                return execution
            moved = await self._step(execution)
            with self._lock, self._shared.locked():
                current = self._execution_record(eid)
                if current["status"] in _FINAL:  # aborted meanwhile: keep that
                    return copy.deepcopy(current)
                if moved:
                    self.executions[eid] = execution
                    self._save()
            if not moved:
                return execution
        return execution

    async def _step(self, execution: dict[str, Any]) -> bool:
        """Advance the first unfinished stage once; True if anything changed."""
        now = self.clock()
        for stage in execution["stages"]:
            if stage["status"] in ("Success", "Skipped"):
                continue
            if stage["status"] == "NotStarted":
                stage.update(status="Running", started=now)
                if stage["type"] == "Approval":
                    stage["status"] = execution["status"] = "ApprovalWaiting"
                elif stage["type"] == "Deployment":
                    await self._deploy(execution, stage)
                else:
                    execution["status"] = "Running"
                self._finish(execution)
                return True
            if stage["status"] == "Running":
                if stage["identifier"] in self.fail_stages:
                    if now - stage["started"] >= self.stage_seconds:
                        message = self.fail_stages[stage["identifier"]]
                        await self._rolled_back(execution, stage, message)
                        return True
                    return False
                if stage["type"] == "Deployment":
                    done = await self._rollout(execution, stage, now)
                elif (
                    stage["type"] == "CI"
                    and execution["pipeline"] in SANDBOX_TEST_RESULTS
                    and now - stage["started"] >= self.stage_seconds
                ):
                    cases = SANDBOX_TEST_RESULTS[execution["pipeline"]]
                    execution.setdefault("tests", {})[stage["identifier"]] = cases
                    failed = sum(c["status"] in ("failed", "error") for c in cases)
                    if failed:
                        self._fail(
                            execution,
                            stage,
                            f"[sandbox] step pytest exited with status 1: {failed} test(s) failed",
                        )
                        return True
                    stage.update(status="Success", ended=now)
                    done = True
                elif now - stage["started"] >= self.stage_seconds:
                    stage.update(status="Success", ended=now)
                    done = True
                else:
                    done = False
                if done:
                    self._finish(execution)
                return done
            return False  # waiting (approval) or failed
        return False

    def _finish(self, execution: dict[str, Any]) -> None:
        stages = execution["stages"]
        if stages and all(s["status"] in ("Success", "Skipped") for s in stages):
            execution.update(status="Success", ended=self.clock())
        elif any(s["status"] == "Failed" for s in stages):
            execution["status"] = "Failed"

    def _fail(self, execution: dict[str, Any], stage: dict[str, Any], message: str) -> None:
        now = self.clock()
        stage.update(status="Failed", ended=now, failure=message)
        for later in execution["stages"]:
            if later["status"] == "NotStarted":
                later["status"] = "Skipped"
        execution.update(status="Failed", ended=now, failure=message)

    async def _deploy(self, execution: dict[str, Any], stage: dict[str, Any]) -> None:
        """Patch the sandbox Deployment of the stage's service to the pipeline's image tag."""
        target, why = self._target(execution, stage)
        if target is None:
            self._fail(execution, stage, why)
            return
        namespace, name, tag = target
        if not self.kube_url:
            self._fail(execution, stage, "the sandbox cluster is not running")
            return
        path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
        async with httpx.AsyncClient(base_url=self.kube_url, timeout=10) as kube:
            got = await kube.get(path)
            if got.status_code != 200:
                self._fail(execution, stage, f"deployment {namespace}/{name} not found")
                return
            container = got.json()["spec"]["template"]["spec"]["containers"][0]
            image = f"{container['image'].rsplit(':', 1)[0]}:{tag}"
            patch = {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": container["name"], "image": image}]}
                    }
                }
            }
            done = await kube.patch(
                path,
                json=patch,
                headers={"Content-Type": "application/strategic-merge-patch+json"},
            )
            if done.status_code != 200:
                message = done.json().get("message", done.text)
                self._fail(execution, stage, f"K8sRollingDeploy failed: {message}")
                return
        body = done.json()
        stage["deployment"] = {
            "namespace": namespace,
            "name": name,
            "container": container["name"],
            "previous": container["image"],
            "image": image,
            "generation": body["metadata"].get("generation"),
        }
        execution["status"] = "Running"

    async def _rollout(self, execution: dict[str, Any], stage: dict[str, Any], now: float) -> bool:
        target = stage.get("deployment") or {}
        path = f"/apis/apps/v1/namespaces/{target['namespace']}/deployments/{target['name']}"
        async with httpx.AsyncClient(base_url=self.kube_url or "", timeout=10) as kube:
            got = await kube.get(path)
        if got.status_code != 200:
            self._fail(
                execution,
                stage,
                f"deployment {target['namespace']}/{target['name']} disappeared during the rollout",
            )
            return True
        dep = got.json()
        status, spec = dep.get("status") or {}, dep.get("spec") or {}
        for condition in status.get("conditions") or []:
            if condition.get("reason") == "ProgressDeadlineExceeded":
                message = (
                    f"K8sRollingDeploy failed: deployment {target['name']} exceeded its "
                    "progress deadline"
                )
                await self._rolled_back(execution, stage, message)
                return True
        wanted = spec.get("replicas", 1)
        if (
            status.get("observedGeneration", 0) >= (target.get("generation") or 0)
            and status.get("updatedReplicas", 0) == wanted
            and status.get("availableReplicas", 0) == wanted
            and status.get("replicas", 0) == wanted
        ):
            stage.update(status="Success", ended=now)
            return True
        if now - stage["started"] > stage.get("timeout_seconds", 600):
            message = "K8sRollingDeploy timed out waiting for the rollout"
            await self._rolled_back(execution, stage, message)
            return True
        return False

    async def _rolled_back(
        self, execution: dict[str, Any], stage: dict[str, Any], message: str
    ) -> None:
        """Fail the stage; a Deployment stage first rolls its change back (its failure
        strategy is StageRollback: K8sRollingRollback puts the previous image back)."""
        target = stage.get("deployment") or {}
        if target.get("previous") and self.kube_url:
            path = f"/apis/apps/v1/namespaces/{target['namespace']}/deployments/{target['name']}"
            patch = {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": target["container"], "image": target["previous"]}
                            ]
                        }
                    }
                }
            }
            async with httpx.AsyncClient(base_url=self.kube_url, timeout=10) as kube:
                back = await kube.patch(
                    path,
                    json=patch,
                    headers={"Content-Type": "application/strategic-merge-patch+json"},
                )
            if back.status_code == 200:
                message += f"; rolled back to {target['previous']}"
            else:
                message += f"; the rollback failed too ({back.status_code})"
        self._fail(execution, stage, message)

    def _target(
        self, execution: dict[str, Any], stage: dict[str, Any]
    ) -> tuple[tuple[str, str, str] | None, str]:
        """(namespace, deployment, image tag) the stage deploys, or why it cannot."""
        tag = execution["variables"].get("image_tag")
        if not tag or str(tag).startswith("<+"):
            return None, "the pipeline variable image_tag has no value"
        if not re.fullmatch(r"[\w][\w.-]{0,127}", str(tag)):
            return None, f"invalid image tag {tag!r}"
        service_ref, env_ref = stage.get("service"), stage.get("environment")
        entries = list(getattr(self.catalog, "services", {}).values()) if self.catalog else []
        entry = next(
            (
                e
                for e in entries
                if (e.harness and e.harness.service == service_ref)
                or e.name.replace("-", "_") == service_ref
            ),
            None,
        )
        if entry is None:
            return None, f"service {service_ref} is not a service of the sandbox cluster"
        environment = None
        if entry.harness:
            environment = next(
                (
                    env
                    for env, refs in entry.harness.environments.items()
                    if refs.environment == env_ref
                ),
                None,
            )
        environment = environment or canonical_environment(str(env_ref or ""))
        if environment is None:
            return None, f"environment {env_ref} is not an environment of the sandbox cluster"
        namespace = self.catalog.namespace_for(entry.name, environment)
        return (namespace, entry.name, str(tag)), ""


_FINAL = frozenset({"Success", "Failed", "Aborted", "Expired"})
_SCOPE = ("accountIdentifier", "orgIdentifier", "projectIdentifier")
_TI_TOKEN = "sandbox-ti-token"  # not a secret: what the simulated ti-service hands out


def _only_stages(doc: dict[str, Any], selected: list[str]) -> dict[str, Any]:
    """The pipeline document with only the selected stages (selective stage execution)."""
    doc = copy.deepcopy(doc)
    pipeline = doc.get("pipeline") or {}
    kept = []
    for item in pipeline.get("stages") or []:
        if "parallel" in item:
            inner = [p for p in item["parallel"] if (p.get("stage") or {}).get("identifier")
                     in selected]  # fmt: skip
            if inner:
                kept.append({"parallel": inner})
        elif (item.get("stage") or {}).get("identifier") in selected:
            kept.append(item)
    pipeline["stages"] = kept
    return doc


def _envelope(data: Any) -> web.Response:
    return web.json_response(
        {"status": "SUCCESS", "data": data, "metaData": None, "correlationId": uuid.uuid4().hex}
    )


def _flat_stages(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in doc.get("stages") or []:
        if "parallel" in item:
            out += [p["stage"] for p in item["parallel"] if "stage" in p]
        elif "stage" in item:
            out.append(item["stage"])
    return out


def _timeout_seconds(text: Any) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+)([smhdw])", str(text or "")):
        total += int(number) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    return total or 600.0


_VARIABLE = re.compile(r"<\+pipeline\.variables\.([A-Za-z_][\w]*)>")
_CONDITION = re.compile(r'^\s*(?P<left>.+?)\s*(?P<op>==|!=)\s*"(?P<right>[^"]*)"\s*$')


def _resolved(value: Any, variables: dict[str, Any]) -> Any:
    """`<+pipeline.variables.x>` expressions in a string replaced by the variables' values."""
    if not isinstance(value, str):
        return value
    return _VARIABLE.sub(lambda m: str(variables.get(m.group(1), m.group(0))), value)


def _runs(condition: Any, variables: dict[str, Any]) -> bool:
    """A stage's `when.condition`: the sandbox evaluates `<expr> == "x"` and `!=`; any other
    condition runs the stage (and says nothing about it)."""
    match = _CONDITION.match(_resolved(condition, variables)) if condition else None
    if match is None:
        return True
    equal = match.group("left").strip().strip('"') == match.group("right")
    return equal if match.group("op") == "==" else not equal


def _stage_record(stage: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    variables = {str(v.get("name")): v.get("value") for v in doc.get("variables") or []}
    spec = stage.get("spec") or {}
    steps = ((spec.get("execution") or {}).get("steps")) or []
    timeouts = [_timeout_seconds((s.get("step") or {}).get("timeout")) for s in steps]
    skipped = not _runs((stage.get("when") or {}).get("condition"), variables)
    return {
        "identifier": stage.get("identifier"),
        "name": stage.get("name") or stage.get("identifier"),
        "type": stage.get("type"),
        "status": "Skipped" if skipped else "NotStarted",
        "started": None,
        "ended": None,
        "failure": "",
        "service": _resolved((spec.get("service") or {}).get("serviceRef"), variables),
        "environment": _resolved((spec.get("environment") or {}).get("environmentRef"), variables),
        "timeout_seconds": max(timeouts, default=600.0),
    }


def _summary(execution: dict[str, Any]) -> dict[str, Any]:
    """The execution as Harness's PipelineExecutionSummary (layout graph of its stages)."""
    nodes: dict[str, Any] = {}
    stages = execution["stages"]
    ids = [f"{execution['id']}-{i}" for i in range(len(stages))]
    for i, (node_id, stage) in enumerate(zip(ids, stages, strict=True)):
        nodes[node_id] = {
            "nodeType": stage["type"],
            "nodeGroup": "STAGE",
            "nodeIdentifier": stage["identifier"],
            "name": stage["name"],
            "nodeUuid": node_id,
            "status": stage["status"],
            "startTs": _ms(stage["started"]),
            "endTs": _ms(stage["ended"]),
            "failureInfo": {"message": stage["failure"]},
            "edgeLayoutList": {
                "currentNodeChildren": [],
                "nextIds": [ids[i + 1]] if i + 1 < len(ids) else [],
            },
        }
    return {
        "pipelineIdentifier": execution["pipeline"],
        "planExecutionId": execution["id"],
        "name": execution["name"],
        "status": execution["status"],
        "runSequence": execution["sequence"],
        "startTs": _ms(execution["started"]),
        "endTs": _ms(execution["ended"]),
        "startingNodeId": ids[0] if ids else None,
        "layoutNodeMap": nodes,
        "failureInfo": {"message": execution["failure"]},
        "executionTriggerInfo": {
            "triggerType": "MANUAL",
            "triggeredBy": {"identifier": "devops-bot"},
        },
    }


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


@contextlib.asynccontextmanager
async def open_sandbox_harness(context: BackendContext) -> AsyncIterator[HarnessClient]:
    """Start the simulated Harness (state in the data directory) and a client for it."""
    path = state_file(context.data_dir) if context.data_dir else None
    server = SandboxHarness(
        kube_url=getattr(context, "sandbox_cluster_url", None),
        catalog=context.catalog,
        state_path=path,
    )
    url = server.start()
    config = HarnessConfig(
        url=url,
        account=SANDBOX_ACCOUNT,
        org=SANDBOX_ORG,
        project=SANDBOX_PROJECT,
        api_key=SANDBOX_KEY,
        label="the sandbox Harness (simulated)",
    )
    client = HarnessClient(config, poll_interval=0.25)
    client.sandbox_server = server  # type: ignore[attr-defined]  (sandbox show/reset, tests)
    try:
        yield client
    finally:
        await client.aclose()
        server.stop()
