"""API tests against a live service: schemathesis (its Python API) generating requests from
the service's OpenAPI document, bounded in examples and time, with a fixed seed.

The checks: not_a_server_error, status_code_conformance, content_type_conformance and
response_schema_conformance. Each (operation, check) failure is kept once, with the
schemathesis message and a `curl` line that reproduces it. Against production only safe
methods (GET, HEAD, OPTIONS) are sent.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

__all__ = [
    "CHECKS",
    "SAFE_METHODS",
    "ApiFailure",
    "ApiRun",
    "junit_xml",
    "prefer_json",
    "run_api_tests",
]

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class ApiFailure:
    operation: str  # GET /orders/{order_id}
    check: str
    message: str
    curl: str


@dataclass
class ApiRun:
    base_url: str
    seed: int
    max_examples: int
    operations: list[str] = field(default_factory=list)  # tested
    skipped: list[str] = field(default_factory=list)  # not sent (unsafe in production)
    requests: dict[str, int] = field(default_factory=dict)  # operation -> requests sent
    failures: list[ApiFailure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # could not test (service down, ...)
    seconds: float = 0.0
    timed_out: bool = False


class _OutOfTime(Exception):
    """Raised inside a probe to end hypothesis's loop at the time bound or on cancel (no
    shrink phase runs, so it ends at once)."""


def prefer_json(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of `document` whose request bodies offer only their JSON media types when they
    have one: a service documented as also taking XML or forms is tested the way clients
    mostly call it, not failed on a serialisation it never really accepted."""
    out = copy.deepcopy(document)
    for item in (out.get("paths") or {}).values():
        if not isinstance(item, dict):
            continue
        for op in item.values():
            body = op.get("requestBody") if isinstance(op, dict) else None
            content = body.get("content") if isinstance(body, dict) else None
            if isinstance(content, dict):
                json_types = {k: v for k, v in content.items() if "json" in k.lower()}
                if json_types and len(json_types) < len(content):
                    body["content"] = json_types
    return out


def _out_of_time(exc: BaseException) -> bool:
    """`_OutOfTime`, or a group of them (hypothesis groups failing explicit examples)."""
    inner = getattr(exc, "exceptions", None)
    if inner:
        return all(_out_of_time(e) for e in inner)
    return isinstance(exc, _OutOfTime)


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]


def _message(exc: BaseException) -> str:
    inner = getattr(exc, "exceptions", None)
    first = inner[0] if inner else exc
    title = getattr(first, "title", "") or type(first).__name__
    text = getattr(first, "message", "") or ""
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    return f"{title}: {line}" if line and line != title else title


MAX_BOUNDARY_CASES = 40


def _boundary_cases(operation: Any) -> list[Any]:
    """schemathesis's coverage-phase cases (boundary values: 0, limits, empty strings) for
    valid inputs, tried before the random ones, so an edge case is found with any seed.
    Empty when this schemathesis cannot make them."""
    try:
        from schemathesis.generation import GenerationMode
        from schemathesis.generation.hypothesis.builder import generate_coverage_cases

        config = operation.schema.config.generation_for(operation=operation)
        cases = generate_coverage_cases(
            operation=operation,
            generation_modes=[GenerationMode.POSITIVE],
            auth_storage=None,
            as_strategy_kwargs={},
            generate_duplicate_query_parameters=False,
            unexpected_methods=set(),
            generation_config=config,
        )
        found = []
        for case in cases:
            found.append(case)
            if len(found) >= MAX_BOUNDARY_CASES:
                break
        return found
    except Exception:
        return []


def _probe(
    operation: Any,
    label: str,
    run: ApiRun,
    *,
    session: Any,
    checks: list[Any],
    deadline: float,
    cancel: threading.Event,
) -> None:
    """Up to `run.max_examples` generated requests to one operation, every check on each."""
    import hypothesis
    import requests
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.core.failures import FailureGroup

    seen: set[str] = set()
    down: list[str] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=run.max_examples,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @hypothesis.seed(run.seed)
    def probe(case: Any) -> None:
        if cancel.is_set() or time.monotonic() > deadline:
            raise _OutOfTime
        if down:
            return
        try:
            response = case.call(session=session)
        except requests.RequestException as exc:
            down.append(f"{label}: the service did not answer: {type(exc).__name__}")
            return
        run.requests[label] += 1
        for check in checks:
            if check.__name__ in seen:
                continue
            try:
                case.validate_response(response, checks=[check])
            except (AssertionError, FailureGroup) as exc:
                seen.add(check.__name__)
                run.failures.append(
                    ApiFailure(label, check.__name__, _message(exc), case.as_curl_command())
                )

    for case in _boundary_cases(operation):
        probe = hypothesis.example(case=case)(probe)
    try:
        probe()
    except _OutOfTime:
        run.timed_out = True
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else ""
        run.errors.append(f"{label}: {type(exc).__name__}: {text}")
    run.errors.extend(down)


def _run_sync(
    document: dict[str, Any],
    base_url: str,
    *,
    seed: int,
    max_examples: int,
    time_budget_s: float,
    safe_only: bool,
    request_timeout_s: float,
    cancel: threading.Event,
    report: Callable[[str], None] = lambda _line: None,
) -> ApiRun:
    import requests
    import schemathesis

    run = ApiRun(base_url=base_url, seed=seed, max_examples=max_examples)
    started = time.monotonic()
    deadline = started + time_budget_s
    schema = schemathesis.openapi.from_dict(prefer_json(document))
    schema.config.update(base_url=base_url, request_timeout=request_timeout_s)
    checks = _checks()
    with requests.Session() as session:
        for result in schema.get_all_operations():
            try:
                operation = result.ok()
            except Exception as exc:
                run.errors.append(f"an operation could not be read: {exc}")
                continue
            label = f"{operation.method.upper()} {operation.path}"
            if safe_only and operation.method.upper() not in SAFE_METHODS:
                run.skipped.append(label)
                continue
            if cancel.is_set() or time.monotonic() > deadline:
                run.timed_out = True
                run.skipped.append(label)
                continue
            run.operations.append(label)
            run.requests[label] = 0
            _probe(
                operation, label, run, session=session, checks=checks, deadline=deadline,
                cancel=cancel,
            )  # fmt: skip
            failed = sorted({f.check for f in run.failures if f.operation == label})
            report(
                f"{label}: {run.requests[label]} request(s), "
                + (f"failed {', '.join(failed)}" if failed else "no failure")
            )
            if time.monotonic() > deadline:
                run.timed_out = True
    run.seconds = round(time.monotonic() - started, 2)
    return run


async def run_api_tests(
    document: dict[str, Any],
    base_url: str,
    *,
    seed: int,
    max_examples: int = 25,
    time_budget_s: float = 60.0,
    safe_only: bool = False,
    request_timeout_s: float = 5.0,
    progress: Callable[[str], None] | None = None,
) -> ApiRun:
    """Run the checks against `base_url` (in a thread; cancelling stops it between calls).
    `progress` gets one line per operation tested, on the caller's event loop."""
    cancel = threading.Event()
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()

    async def forward() -> None:
        while True:
            line = await lines.get()
            if progress is not None:
                progress(line)

    forwarding = asyncio.create_task(forward())
    try:
        return await asyncio.to_thread(
            _run_sync,
            document,
            base_url,
            seed=seed,
            max_examples=max_examples,
            time_budget_s=time_budget_s,
            safe_only=safe_only,
            request_timeout_s=request_timeout_s,
            cancel=cancel,
            report=lambda line: loop.call_soon_threadsafe(lines.put_nowait, line),
        )
    finally:
        cancel.set()
        await asyncio.sleep(0)  # lines the thread queued just before it ended
        forwarding.cancel()
        while progress is not None and not lines.empty():
            progress(lines.get_nowait())


def junit_xml(run: ApiRun, suite: str) -> str:
    """The run as a JUnit XML report: one test case per operation, one failure per check."""
    failed = {f.operation for f in run.failures}
    root = ET.Element(
        "testsuites", name="schemathesis", tests=str(len(run.operations)),
        failures=str(len(failed)), time=f"{run.seconds:.2f}",
    )  # fmt: skip
    tests = ET.SubElement(
        root, "testsuite", name=suite, tests=str(len(run.operations)),
        failures=str(len(failed)), skipped=str(len(run.skipped)), time=f"{run.seconds:.2f}",
    )  # fmt: skip
    props = ET.SubElement(tests, "properties")
    for name, value in (("seed", run.seed), ("base_url", run.base_url),
                        ("max_examples", run.max_examples)):  # fmt: skip
        ET.SubElement(props, "property", name=name, value=str(value))
    for label in run.operations:
        case = ET.SubElement(tests, "testcase", classname=suite, name=label)
        for failure in (f for f in run.failures if f.operation == label):
            node = ET.SubElement(case, "failure", type=failure.check, message=failure.message)
            node.text = f"{failure.message}\n\nReproduce with:\n{failure.curl}"
    for label in run.skipped:
        case = ET.SubElement(tests, "testcase", classname=suite, name=label)
        ET.SubElement(case, "skipped", message="not sent: unsafe method or out of time")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
