"""What a codegen request says beyond the shared reading (the vocabulary's `reader` hook).

codegen_kind     client | models | diff (what changed between two versions of a document)
target_language  the language asked for (python when none is named)
schema_name      the schema named ("the orders schema")
pull_request     the request asks for a pull request (planned: workflow.tools.changes)
pr_target        the service whose repository the pull request goes to ("... to web")
spec_url         an OpenAPI document URL typed in the request; `spec_url_old` the first of
                 two (compare old -> new)
spec_source      "repository": the document in the service's repository (the catalog's
                 `openapi_path`) is asked for ("from its repo spec"), not its live URL
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "CONTEXT_KEYS",
    "api_service",
    "asks_pull_request",
    "asks_repository_document",
    "read_codegen_request",
    "spec_urls",
]

CONTEXT_KEYS = (
    "codegen_kind",
    "target_language",
    "schema_name",
    "spec_url",
    "spec_url_old",
    "pull_request",
    "pr_target",
    "spec_source",
)
_PR = re.compile(r"\bpull\s+request\b|\bpr\b|\bmerge\s+request\b")
_PR_TO = re.compile(
    r"\b(?:pull\s+request|pr|merge\s+request)\s+(?:to|on|against|in|into|for)\s+"
    r"(?:the\s+)?([a-z][a-z0-9-]*)(?:'s)?(?:\s+repo(?:sitory)?)?"
)
# "from its repo spec", "using the spec in the repository", "from ledger's repo": the document
# committed in the service's repository. Read only before a pull request is named, so "open a
# pull request in the web repository" is not it.
_REPO = r"(?:git\s+)?repo(?:sitory)?"
_FROM_REPO = re.compile(
    r"\b(?:from|in|using|use|out\s+of|per)\s+(?:the\s+|its\s+|their\s+|our\s+"
    r"|[a-z][a-z0-9-]*(?:'s|\u2019s)\s+)?(?:service(?:'s)?\s+)?" + _REPO + r"\b"
    r"|\b" + _REPO + r"(?:'s)?\s+(?:spec|openapi|swagger|document|doc|copy|version|yaml|file)\b"
    r"|\b(?:committed|checked[\s-]in)\s+(?:openapi\s+)?(?:spec|document|openapi|schema)\b"
)

_URL = re.compile(r"https?://[^\s<>|\"'`]+")
_DIFF = re.compile(
    r"\bbreaking\b|\bwhat\s+changed\b|\bchanges?\s+(?:in|to|of|since)\b|\bdiff\b|\bcompare\b"
    r"|\bsince\s+the\s+last\b|\bbackwards?[\s-]compat\w*|\bbreak\s+(?:the\s+)?clients?\b"
)
_MODELS = re.compile(
    r"\bmodels?\b|\bpydantic\b|\bdataclass(?:es)?\b|\bschemas?\b|\bdtos?\b|\btypes\b"
)
_CLIENT = re.compile(r"\bclient\b|\bsdk\b|\bbindings\b|\bwrapper\b")
_LANGUAGES = (
    ("python", r"python|py|pydantic"),
    ("typescript", r"typescript|ts"),
    ("javascript", r"javascript|js|node"),
    ("go", r"golang|go"),
    ("java", r"java|kotlin"),
    ("rust", r"rust"),
    ("csharp", r"c#|csharp|\.net|dotnet"),
)
_SCHEMA = re.compile(r"\b(?:the\s+)?([a-z][\w-]*)\s+(?:schema|model|object|type)\b")
_NOT_A_SCHEMA = frozenset(
    {"the", "a", "an", "openapi", "json", "api", "whole", "full", "data", "pydantic", "its"}
    | {"python", "response", "request", "new", "old", "every", "all"}
)
_API_OF = re.compile(
    r"\b(?:the\s+)?([a-z][a-z0-9-]*)(?:'s)?\s+(?:api|spec|openapi(?:\s+spec)?|swagger|service\s+api)\b"
    r"(?!\s+tests?\b|\s+testing\b)"
)
_NOT_A_SERVICE = frozenset(
    {"the", "a", "an", "new", "old", "this", "that", "our", "my", "rest", "public", "last"}
    | {"openapi", "python", "http", "web", "client", "current", "latest", "its", "from"}
    | {"for", "of", "to", "in", "on", "with", "by", "against", "whole", "and", "your"}
    | {"run", "fuzz", "test", "some", "rest", "graphql", "grpc", "internal", "private", "url"}
    | {"repo", "repository", "committed", "git", "yaml", "json"}
)


def asks_pull_request(low: str) -> bool:
    return bool(_PR.search(low))


def asks_repository_document(low: str) -> bool:
    """The request asks for the document in the service's repository."""
    before_pr = low[: m.start()] if (m := _PR.search(low)) else low
    return bool(_FROM_REPO.search(before_pr))


def spec_urls(text: str) -> list[str]:
    return [u.rstrip(".,;:!?)>") for u in _URL.findall(text)]


def api_service(low: str) -> str | None:
    """ "the payments API", "checkout's spec": the service an API request names."""
    for match in _API_OF.finditer(low):
        name = match.group(1)
        if name not in _NOT_A_SERVICE:
            return name
    return None


def read_codegen_request(task_type: str, text: str, context: dict[str, Any]) -> dict[str, Any]:
    if task_type != "codegen":
        return {}
    urls = spec_urls(text)
    low = " ".join(_URL.sub(" ", text).lower().split())
    found: dict[str, Any] = {}
    if _DIFF.search(low):
        found["codegen_kind"] = "diff"
    elif _MODELS.search(low) and not _CLIENT.search(low):
        found["codegen_kind"] = "models"
    elif _CLIENT.search(low):
        found["codegen_kind"] = "client"
    for name, pattern in _LANGUAGES:
        if re.search(r"(?<![\w.#-])(?:" + pattern + r")(?![\w#-])", low):
            found["target_language"] = name
            break
    if found.get("codegen_kind") == "models":
        for match in _SCHEMA.finditer(low):
            if match.group(1) not in _NOT_A_SCHEMA:
                found["schema_name"] = match.group(1)
                break
    if asks_pull_request(low):
        found["pull_request"] = True
        to = _PR_TO.search(low)
        if to and to.group(1) not in {"it", "its", "a", "an", "this", "that", "them"}:
            found["pr_target"] = to.group(1)
    if urls:
        found["spec_url"] = urls[-1]
        if len(urls) > 1:
            found["spec_url_old"] = urls[0]
    elif asks_repository_document(low):
        found["spec_source"] = "repository"
    service = context.get("service")
    named = api_service(low)
    if named:  # "the payments API" names the service more surely than any other word
        found["service"] = named
    if service and service == found.get("schema_name"):
        found.setdefault("service", None)
    if not found.get("service") and found.get("schema_name"):
        of = re.search(r"\bschema\s+(?:of|from|in)\s+(?:the\s+)?([a-z][a-z0-9-]*)", low)
        if of:
            found["service"] = of.group(1)
    if urls and context.get("service") and context["service"] in " ".join(urls).lower():
        found.setdefault("service", None)  # a word of the URL is not a service
    return found
