"""What a test request says beyond the shared reading (the vocabulary's `reader` hook).

test_kind   api (schemathesis against the live service) | coverage | scaffold | unit
spec_url    an OpenAPI document URL typed in the request
"""

from __future__ import annotations

import re
from typing import Any

from workflow.agents.codegen_agent.reading import api_service, asks_pull_request, spec_urls

__all__ = ["CONTEXT_KEYS", "read_test_request"]

CONTEXT_KEYS = ("test_kind", "spec_url", "pull_request")

_COVERAGE = re.compile(r"\bcover(?:age|ed)\b|\buncovered\b")
_SCAFFOLD = re.compile(
    r"\b(?:scaffold|write|generate|create|add)\b[^.?]{0,30}\btests?\b(?![^.?]{0,10}\brun)"
)
_UNIT = re.compile(r"\bunit\s+tests?\b|\bpytest\b|\btest\s+suite\b")
_API = re.compile(
    r"\bapi\s+tests?\b|\bschemathesis\b|\bfuzz\w*\b|\bcontract\s+tests?\b|\bopenapi\b"
    r"|\bapi\s+testing\b|\btest\s+the\s+(?:[\w-]+\s+)?api\b|\bproperty[\s-]based\b"
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
    if asks_pull_request(low):
        found["pull_request"] = True
    if not context.get("service"):
        named = api_service(low)
        if named:
            found["service"] = named
    return found
