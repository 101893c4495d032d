"""How scaffold requests (new services, parts for a repository, templates) are recognised,
and what only this agent reads from them (`read_scaffold`): the template or language, the new
service's name, the owner team, the port, and the parts asked for."""

from __future__ import annotations

import re
from typing import Any

from workflow.agents.spec import Vocabulary

__all__ = ["VOCABULARY", "read_scaffold"]

SIGNALS: tuple[tuple[str, float, str], ...] = (
    ("scaffold", 4.5, r"\bscaffold\w*\b|\bbootstrap\w*\b|\bcookiecutter\b|\bcopier\b"),
    ("scaffold", 2, r"\bboilerplate\b|\bskeleton\b|\bstarter\b|\btemplates?\b"),
    (
        "scaffold",
        3,
        r"\b(?:new|create|start|init(?:ialize)?|set\s*up|setup|make|spin\s+up)\b[^.]{0,30}?"
        r"\b(?:(?:micro)?service|project|repo|repository|app|application|library|lib|monorepo)\b",
    ),
    (
        "scaffold",
        1.5,
        r"\b(?:fastapi|flask|django|express|spring(?:\s*boot)?|nestjs|next\.?js|golang|go|rust"
        r"|node(?:\.?js)?|typescript|python|java|kotlin)\s+(?:service|app|project|api|repo|microservice)\b",
    ),
    # parts for an existing repository: "add a Dockerfile and k8s manifests to ledger"
    ("scaffold", 4, r"\bdockerfile\b"),
    (
        "scaffold",
        5,
        r"\badd\b[^.]{0,40}\b(?:manifests?|dockerfile)\b[^.]{0,30}\bto\b",
    ),
    # "add a harness pipeline to ledger": a pipeline file in the repository
    ("scaffold", 7, r"\badd\s+(?:a|an)\s+(?:harness\s+|ci(?:\s*/\s*cd)?\s+)?pipeline\s+to\b"),
    (
        "scaffold",
        4,
        r"\bbehind\s+(?:their|its|the)\s+templates?\b|\bfrom\s+(?:its|the)\s+template\b",
    ),
)

# The imperative a request starts with (after politeness): first match wins.
LEADING: tuple[tuple[str, str], ...] = (("scaffold", r"^(?:scaffold|bootstrap)\b"),)

_LANGUAGES = {
    "python": "python",
    "fastapi": "python",
    "flask": "python",
    "django": "python",
    "go": "go",
    "golang": "go",
    "node": "node",
    "nodejs": "node",
    "node.js": "node",
    "typescript": "node",
    "express": "node",
    "java": "java",
    "kotlin": "java",
    "spring": "java",
    "rust": "rust",
}
_LANGUAGE = re.compile(
    r"\b(python|fastapi|flask|django|golang|go|node(?:\.js|js)?|typescript|express|java|kotlin"
    r"|spring|rust)\b(?=\s+(?:http\s+)?(?:micro)?(?:service|app|api|project|repo|backend)|\b)",
    re.I,
)
_STOP = {
    "for",
    "with",
    "on",
    "in",
    "to",
    "that",
    "the",
    "a",
    "an",
    "and",
    "called",
    "named",
    "please",
    "from",
    "owned",
    "by",
    "team",
    "using",
    "it",
    "service",
    "app",
    "api",
    "repo",
    "project",
}
_NAME = r"([a-z0-9][a-z0-9-]{0,62})"
# a new service's name as written (validated by the node: never silently changed)
_NEW_NAME = r"([A-Za-z0-9][A-Za-z0-9_.-]{0,80})"
_NAME_PATTERNS = (
    re.compile(r"\b(?:called|named|name(?:d)?\s+it|name:?)\s+[`'\"]?" + _NEW_NAME, re.I),
    re.compile(
        r"\b(?:micro)?(?:service|app|api|project|repo(?:sitory)?|application)\s+[`'\"]?"
        + _NEW_NAME,
        re.I,
    ),
    re.compile(
        r"\b(?:scaffold|bootstrap|create|spin\s+up|new)\s+[`'\"]?" + _NAME + r"[`'\"]?"
        r"\s*(?:\s(?:for|with|owned|on|in)\b|[,(]|$)",
        re.I,
    ),
)
_TEAM = (
    re.compile(r"\bfor\s+(?:the\s+)?([a-z0-9][a-z0-9_-]*)\s+team\b", re.I),
    re.compile(r"\bowned\s+by\s+(?:the\s+)?([a-z0-9][a-z0-9_-]*)", re.I),
    re.compile(r"\b(?:team|owner)\s*[:=]?\s+(?!is\b)([a-z0-9][a-z0-9_-]*)", re.I),
    re.compile(r"\b([a-z0-9][a-z0-9_-]*)\s+team\b", re.I),
)
_PORT = re.compile(r"\bport\s*[:=]?\s*(\d{2,5})\b|\blistens?\s+on\s+(\d{2,5})\b", re.I)
_TEMPLATE = re.compile(
    r"\b(?:from|using|with)\s+(?:the\s+|our\s+)?(?:template\s+)?[`'\"]?([a-z0-9][a-z0-9_.-]*)"
    r"[`'\"]?\s+template\b|\btemplate\s*[:=]\s*([a-z0-9][a-z0-9_.-]*)",
    re.I,
)
_PARTS = (
    ("dockerfile", re.compile(r"\bdockerfile\b|\bcontainer\s*file\b", re.I)),
    (
        "manifests",
        re.compile(
            r"\b(?:k8s|kubernetes|kube)\s+(?:manifests?|yaml|deployment)\b|\bmanifests?\b", re.I
        ),
    ),
    ("pipeline", re.compile(r"\bpipeline\b|\bharness\b|\bci\s*/\s*cd\b", re.I)),
)
_LIST = re.compile(
    r"\b(?:what|which|list|show|any)\b[^.?]{0,30}\btemplates\b|\btemplates\s+(?:do\s+you|are)\b",
    re.I,
)
_BEHIND = re.compile(r"\bbehind\b[^.?]{0,20}\btemplates?\b|\bout\s+of\s+date\b[^.?]*template", re.I)
_UPDATE = re.compile(
    r"\b(?:update|upgrade|refresh|sync)\s+(?:the\s+)?" + _NAME + r"\s+(?:from|to|with)\s+"
    r"(?:its|the|their|latest)\s+(?:latest\s+)?template\b",
    re.I,
)
_ADD_TO = re.compile(
    r"\b(?:to|for|in|into)\s+(?:the\s+)?[`'\"]?" + _NAME + r"[`'\"]?"
    r"(?:'s)?(?:\s+(?:repo(?:sitory)?|service))?(?:\s+(?:please|pls|plz|thanks|thx|asap))?"
    r"\s*[.!?]*$",
    re.I,
)


def _name_ok(name: str) -> bool:
    return name.lower() not in _STOP and not name.isdigit() and name.lower() not in _LANGUAGES


def read_scaffold(task_type: str, text: str, context: dict[str, Any]) -> dict[str, Any]:
    """What only the scaffold agent reads from a request (pure, no I/O)."""
    out: dict[str, Any] = {}
    if _BEHIND.search(text):
        return {"scaffold_action": "behind"}
    if m := _UPDATE.search(text):
        return {"scaffold_action": "update", "service": m[1].lower()}
    if _LIST.search(text) and not re.search(r"\b(?:scaffold|create|new)\b", text, re.I):
        return {"scaffold_action": "templates"}
    if m := _TEMPLATE.search(text):
        out["template"] = (m[1] or m[2]).lower()
    if m := _LANGUAGE.search(text):
        out["language"] = _LANGUAGES[m[1].lower()]
    if m := _PORT.search(text):
        out["port"] = int(m[1] or m[2])
    for pattern in _TEAM:
        if (m := pattern.search(text)) and _name_ok(m[1]):
            out["team"] = m[1].lower()
            break
    parts = [name for name, pattern in _PARTS if pattern.search(text)]
    is_new = re.search(
        r"\b(?:scaffold|bootstrap|new|spin\s+up|start|init)\b|\bcreate\s+(?:a|an)\s+"
        r"(?:new\s+)?(?:\w+\s+){0,2}(?:service|app|repo|project)",
        text,
        re.I,
    )
    if (
        parts
        and re.search(r"\b(?:add|give|needs?|get|want|wants|missing)\b", text, re.I)
        and not is_new
    ):
        out["scaffold_action"] = "add"
        out["parts"] = parts
        if (m := _ADD_TO.search(text)) and _name_ok(m[1]):
            out["service"] = m[1].lower()
        return out
    out["scaffold_action"] = "create"
    for pattern in _NAME_PATTERNS:
        for m in pattern.finditer(text):
            name = m[1].rstrip(".")
            if _name_ok(name) and name.lower() != out.get("team"):
                out["new_service"] = name
                break
        if "new_service" in out:
            break
    return out


VOCABULARY = Vocabulary(
    signals=SIGNALS,
    leading=LEADING,
    task_actions={
        "scaffold": ("create",),
    },
    default_action={"scaffold": "create"},
    context_keys=(
        "scaffold_action",
        "template",
        "language",
        "new_service",
        "team",
        "port",
        "parts",
    ),
    help={
        "scaffold": "create a new service/project/repository from a template, add a Dockerfile,"
        " Kubernetes manifests or a pipeline to a repository, list or update templates",
    },
    reader=read_scaffold,
)
