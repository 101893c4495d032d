"""What a pipeline request says about the pipeline's shape, read from the text.

The shared rules classifier finds the service, the environments and the action; this
reader (the vocabulary's `reader` hook) adds what only harness_expert needs:

pipeline_change   add_approval | remove_approval | add_environment | change_strategy, when
                  the request changes an existing pipeline rather than creating one
approval_before   environments a person approves before (`[]`: "no approval")
ci_steps          the CI steps asked for ("build", "test"); `[]` for a CD-only pipeline
ci_only           a pipeline that builds and tests but deploys nowhere
strategy          rolling | canary | blue_green
language          the service's language, when named
runtime_inputs    `name=value` words of a deploy or pipeline request ({name: value}): the
                  pipeline's runtime inputs the catalog cannot fill (`change_ticket=CHG-12`,
                  `branch=release/2.3`); the node checks them against the input template

Only what the text says is returned: the authoring fills the rest from the catalog and
says so in the preview.
"""

from __future__ import annotations

import re
from typing import Any

from workflow.environments import canonical_environment

__all__ = ["CONTEXT_KEYS", "read_pipeline_request", "runtime_inputs"]

CONTEXT_KEYS = (
    "pipeline_change",
    "approval_before",
    "ci_steps",
    "ci_only",
    "strategy",
    "language",
    "runtime_inputs",
)

_ENV = r"(?:the\s+)?([a-z][\w-]*)"
_CREATE = re.compile(
    r"\b(?:create|new|set\s*up|setup|scaffold|generate|make|write|build\s+me|bootstrap)\b"
    r"|\bci\s*/\s*cd\s+for\b|\bcicd\s+for\b|\bpipeline\s+for\b"
    r"|\badd\s+(?:a|an)\s+(?:[\w/-]+\s+)?pipeline\b"
)
_ADD_TO_PIPELINE = re.compile(
    r"\badd\s+(?:an?\s+)?[\w-]+\s+(?:stage\s+)?to\s+[^.;]{0,40}\bpipeline\b"
)
_ADD_APPROVAL = re.compile(
    r"\b(?:add|put|insert|require|need|want|gate)\b[^.;]{0,60}\bapprov(?:al|e)\b"
    r"|\bapproval\s+(?:step|stage|gate)\b[^.;]{0,40}\b(?:to|in|on|into)\b[^.;]{0,40}\bpipeline"
)
_REMOVE_APPROVAL = re.compile(
    r"\b(?:remove|drop|delete|get\s+rid\s+of|skip|take\s+out)\b[^.;]{0,40}\bapprov(?:al|e)\b"
)
_APPROVAL_BEFORE = re.compile(
    r"\bapprov(?:al|e)\s+(?:step\s+|stage\s+|gate\s+)?"
    r"(?:before|ahead\s+of|prior\s+to|for|on|in)\s+(?:deploying\s+to\s+|going\s+to\s+)?" + _ENV
)
_NO_APPROVAL = re.compile(r"\b(?:no|without)\s+(?:an?\s+)?(?:manual\s+)?approvals?\b")
_STRATEGY = (
    ("blue_green", re.compile(r"\bblue\s*[-/ ]?\s*green\b|\bb\s*/\s*g\b")),
    ("canary", re.compile(r"\bcanar(?:y|ies)\b")),
    ("rolling", re.compile(r"\brolling\b")),
)
_SWITCH = re.compile(r"\b(?:switch|change|move|convert|use|make\s+it|go)\b")
_ADD_ENV = re.compile(
    r"\b(?:add|also\s+deploy\s+to|add\s+a\s+deploy\s+to|extend\b[^.;]{0,30}\bto)\s+"
    r"(?:an?\s+)?(?:the\s+)?([a-z][\w-]*)(?:\s+(?:stage|environment|env|deploy))?\b"
)
_BUILD = re.compile(r"\bbuild(?:s|ing)?\b|\bimages?\b|\bdocker\b|\bcontainer\b|\bpush\b|\bcompile")
_TEST = re.compile(r"\btests?\b|\btesting\b|\bunit\s+tests?\b|\bpytest\b|\blint")
_NO_TEST = re.compile(r"\b(?:no|without|skip(?:ping)?)\s+(?:the\s+)?(?:unit\s+)?tests?\b")
_CD_ONLY = re.compile(
    r"\b(?:cd|deploy)[\s-]only\b|\bonly\s+(?:cd|deploys?)\b|\bno\s+(?:ci|build)\b"
)
_CI_ONLY = re.compile(
    r"\bci[\s-]only\b|\bonly\s+ci\b|\bno\s+(?:cd|deploys?|deployments?)\b"
    r"|\bjust\s+(?:build|test)\b[^.;]*$"
)
_CI_WORD = re.compile(r"\bci\b(?!\s*(?:/|and|&|\+|-)\s*cd\b)")
_DEPLOY_WORD = re.compile(
    r"\bdeploy\w*|\brelease|\bpromot|\bcd\b|\bship\b|\brollout\b|\broll\s+out"
)
_NAME = r"([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)"
_SERVICE = re.compile(
    _NAME + "(?:'s|\u2019s)" + r"\s+(?:\w+\s+)?pipeline"
    r"|\bthe\s+" + _NAME + r"\s+(?:ci\s*/\s*cd\s+|cicd\s+|ci\s+|cd\s+|deploy\s+)?pipeline"
    r"|\bpipeline\s+(?:of|for|to)\s+(?:the\s+)?" + _NAME
)
_NOT_A_SERVICE = frozenset(
    {"a", "an", "the", "my", "our", "this", "that", "its", "it", "me", "us", "new", "ci", "cd"}
    | {"deploy", "harness", "microservice", "service", "repo", "repository", "app", "project"}
)
# `name=value`, as a word of its own: a pipeline variable's name (or a dotted input path) and
# a value without spaces. Values are checked by the node, not here.
_RUNTIME_INPUT = re.compile(r"(?<![^\s])([A-Za-z_][\w.]{0,127})=(\S{1,500})(?![^\s])")
_DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# Hyphenated words the shared rules may take for a service name.
_SHAPE_WORD = re.compile(r"(?:ci|cd)-(?:only|cd|pipeline)|blue-green|multi-stage|end-to-end")
_LANGUAGES = tuple(
    (name, re.compile(r"(?<![\w.-])(?:" + pattern + r")(?![\w-])"))
    for name, pattern in (
        ("python", r"python|django|flask|fastapi"),
        ("go", r"golang|go(?=\s+(?:service|app|api|project|code|module|binary))|(?<=\bin\s)go"),
        ("java", r"java|spring(?:\s*boot)?|maven|gradle"),
        ("kotlin", r"kotlin"),
        ("typescript", r"typescript"),
        ("javascript", r"javascript|node(?:\.?js)?|npm"),
        ("rust", r"rust|cargo"),
        ("ruby", r"ruby|rails"),
        ("dotnet", r"\.net|dotnet|c#|csharp"),
    )
)


def read_pipeline_request(task_type: str, text: str, context: dict[str, Any]) -> dict[str, Any]:
    """More context for a `pipeline` request (see the module's docstring). A key whose value
    is None is one the shared rules read wrongly here and that must go."""
    given = runtime_inputs(text)
    if task_type != "pipeline":
        return {"runtime_inputs": given} if task_type == "deploy" and given else {}
    low = " ".join(text.lower().split())
    found: dict[str, Any] = {"runtime_inputs": given} if given else {}
    change = _change(low)
    if change:
        found["pipeline_change"] = change
    before = _approval_before(low)
    if before is not None:
        found["approval_before"] = before
    strategy = next((name for name, rx in _STRATEGY if rx.search(low)), None)
    if strategy:
        found["strategy"] = strategy
    if change == "add_environment":
        env = _added_environment(low)
        if env:
            found["environment"] = env
    if change is None:
        found.update(_ci_shape(low, context))
    language = _language(low)
    if language:
        found["language"] = language
    found.update(_named_service(low, context))
    return found


def runtime_inputs(text: str) -> dict[str, str]:
    """The `name=value` words of a request (a repeated name: the last one), but for those the
    shared rules read themselves (`tag=`, `environment=`, `pipeline=`, ...)."""
    from workflow.classify.context import KV_KEYS  # the classifier imports the agents

    return {
        m.group(1): m.group(2)
        for m in _RUNTIME_INPUT.finditer(text)
        if m.group(1).lower() not in KV_KEYS
    }


def _change(low: str) -> str | None:
    """Which edit of an existing pipeline the text asks for, or None (a new pipeline)."""
    creating = bool(_CREATE.search(low))
    if _REMOVE_APPROVAL.search(low):
        return "remove_approval"
    if _ADD_APPROVAL.search(low) and not creating:
        return "add_approval"
    if creating:
        return None
    if _SWITCH.search(low) and any(rx.search(low) for _, rx in _STRATEGY):
        return "change_strategy"
    if _added_environment(low) or _ADD_TO_PIPELINE.search(low):
        return "add_environment"
    return None


def _added_environment(low: str) -> str | None:
    for match in _ADD_ENV.finditer(low):
        env = canonical_environment(match.group(1))
        if env:
            return env
    return None


def _approval_before(low: str) -> list[str] | None:
    if _NO_APPROVAL.search(low):
        return []
    envs = []
    for match in _APPROVAL_BEFORE.finditer(low):
        env = canonical_environment(match.group(1))
        if env and env not in envs:
            envs.append(env)
    return envs or None


def _ci_shape(low: str, context: dict[str, Any]) -> dict[str, Any]:
    steps = []
    if _BUILD.search(low):
        steps.append("build")
    if _TEST.search(low) and not _NO_TEST.search(low):
        steps.append("test")
    if _CD_ONLY.search(low):
        return {"ci_steps": []}
    deploys = bool(_DEPLOY_WORD.search(low) or context.get("environments"))
    if _CI_ONLY.search(low) or (_CI_WORD.search(low) and not deploys):
        return {"ci_only": True, "ci_steps": steps or ["build", "test"]}
    if steps:
        if "build" not in steps:  # tests alone still build the image a deploy needs
            steps.insert(0, "build")
        return {"ci_steps": steps}
    return {}


def _language(low: str) -> str | None:
    found = [(m.start(), name) for name, rx in _LANGUAGES for m in rx.finditer(low)]
    return min(found)[1] if found else None


def _named_service(low: str, context: dict[str, Any]) -> dict[str, Any]:
    """The service the pipeline is for, when the shared rules did not find it: "checkout's
    pipeline", "the checkout pipeline", "pipeline of checkout". "new pipeline: orders-api ->
    dev" reads as `pipeline: orders-api`, a pipeline name; a service-like name there is the
    service a new pipeline is for."""
    if context.get("service") and not _SHAPE_WORD.fullmatch(str(context["service"])):
        return {}
    match = _SERVICE.search(low)
    if match:
        name = next(g for g in match.groups() if g)
        if name not in _NOT_A_SERVICE and canonical_environment(name) is None:
            return {"service": name}
    name = context.get("pipeline_name")
    if isinstance(name, str) and _DNS1123.fullmatch(name):
        arrow = re.compile(r"\bpipeline\s*:\s*" + re.escape(name) + r"\s*(?:->|→|=>|to\b)")
        if arrow.search(low):
            return {"service": name, "pipeline_name": None}
    return {}
