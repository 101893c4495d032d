"""What a test request says beyond the shared reading (the vocabulary's `reader` hook).

test_kind   api (schemathesis against the live service) | coverage | scaffold | unit
spec_url    an OpenAPI document URL typed in the request
spec_source "repository": the document committed in the service's repository is asked for
endpoints   the operations a scaffold is for ("the orders endpoints of payments": orders)
include_writes  the run may send unsafe methods (POST, PUT, ...): in production a write,
            planned and approved first
unit_via    how unit tests run when the request says: job ("as a job", "in the cluster") or
            pipeline ("in its pipeline", "in harness", "through CI")
runtime_inputs  a unit test request's `name=value` words (`branch=fix-rounding`): runtime
            inputs of the pipeline's CI stages, read as harness_expert reads a deploy's
"""

from __future__ import annotations

import re
from typing import Any

from workflow.agents.codegen_agent.reading import (
    api_service,
    asks_pull_request,
    asks_repository_document,
    spec_urls,
)

__all__ = ["CONTEXT_KEYS", "read_test_request"]

CONTEXT_KEYS = (
    "test_kind",
    "spec_url",
    "spec_source",
    "pull_request",
    "include_writes",
    "endpoints",
    "unit_via",
    "runtime_inputs",
)

_COVERAGE = re.compile(r"\bcover(?:age|ed)\b|\buncovered\b")
_SCAFFOLD = re.compile(
    r"\b(?:scaffold|write|generate|create|add)\b[^.?]{0,30}\btests?\b(?![^.?]{0,10}\brun)"
)
_UNIT = re.compile(r"\bunit\s+tests?\b|\bpytest\b|\btest\s+suite\b")
_API = re.compile(
    r"\bapi\s+tests?\b|\bschemathesis\b|\bfuzz\w*\b|\bcontract\s+tests?\b|\bopenapi\b"
    r"|\bapi\s+testing\b|\btest\s+the\s+(?:[\w-]+\s+)?api\b|\bproperty[\s-]based\b"
)
_COVERAGE_OF = re.compile(
    r"\b([a-z][a-z0-9-]*)(?:'s|\u2019s)\s+(?:test\s+|code\s+|unit\s+test\s+)?coverage\b"
    r"|\bwhich\s+([a-z][a-z0-9-]*)\s+(?:modules|files|packages)\b"
    r"|\bcoverage\s+(?:of|for|in)\s+(?:the\s+)?([a-z][a-z0-9-]*)"
)
_NOT_A_SERVICE = frozenset({"the", "our", "my", "its", "test", "tests", "code", "unit", "this"})
_WRITES = re.compile(
    r"\b(?:including|incl\.?|with|and|also)\s+(?:the\s+)?(?:writes|write\s+(?:operations|ops|calls)"
    r"|posts?|unsafe\s+(?:methods|operations|calls)|mutations)\b|\ball\s+(?:http\s+)?methods\b"
    r"|\b(?:posts?|writes|puts|deletes|unsafe\s+methods)\s+(?:too|as\s+well|also)\b"
)
_ENDPOINTS = re.compile(
    r"\b(?:the\s+)?([a-z][\w-]*)\s+(?:endpoints?|operations|routes|resources?)\b"
    r"(?:\s+(?:of|in|on|for)\s+(?:the\s+)?([a-z][a-z0-9-]*))?"
)
_AS_JOB = re.compile(
    r"\b(?:as|in|with)\s+an?\s+(?:kubernetes\s+|k8s\s+)?job\b"
    r"|\bin\s+the\s+(?:kubernetes\s+|k8s\s+)?cluster\b|\bon\s+kubernetes\b"
)
_IN_PIPELINE = re.compile(
    r"\b(?:in|through|via|with|on)\s+(?:its\s+|the\s+)?(?:harness\b|ci\b|(?:harness\s+|ci\s+)?"
    r"pipeline\b)"
)
_AGAINST = re.compile(r"\b(?:tests?|testing)\b[^.?]{0,30}\bagainst\b")


def read_test_request(task_type: str, text: str, context: dict[str, Any]) -> dict[str, Any]:
    if task_type != "test":
        return {}
    urls = spec_urls(text)
    low = " ".join(text.lower().split())
    found: dict[str, Any] = {}
    if _COVERAGE.search(low):
        found["test_kind"] = "coverage"
    elif _SCAFFOLD.search(low):
        found["test_kind"] = "scaffold"
    elif _API.search(low) or _AGAINST.search(low) or urls:
        found["test_kind"] = "api"
    elif _UNIT.search(low):
        found["test_kind"] = "unit"
    if urls:
        found["spec_url"] = urls[-1]
    elif asks_repository_document(low):
        found["spec_source"] = "repository"
    if found.get("test_kind") == "unit":
        from workflow.agents.harness_expert.reading import runtime_inputs

        given = runtime_inputs(text)
        if given:
            found["runtime_inputs"] = given
        if _AS_JOB.search(low):
            found["unit_via"] = "job"
        elif _IN_PIPELINE.search(low):
            found["unit_via"] = "pipeline"
    if _WRITES.search(low):
        found["include_writes"] = True
    if asks_pull_request(low):
        found["pull_request"] = True
    if found.get("test_kind") == "scaffold":
        match = _ENDPOINTS.search(low)
        if match and match.group(1) not in {"the", "all", "api", "every", "its", "our"}:
            found["endpoints"] = match.group(1)
            if match.group(2):
                found["service"] = match.group(2)
    named = api_service(low)
    if named:
        found["service"] = named
    elif found.get("test_kind") == "coverage" and not context.get("service"):
        for match in _COVERAGE_OF.finditer(low):
            name = next(g for g in match.groups() if g)
            if name not in _NOT_A_SERVICE:
                found["service"] = name
                break
    return found
