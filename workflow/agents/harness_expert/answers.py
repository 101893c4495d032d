"""Filling a pipeline's runtime inputs from a request: what the request and the catalog say
(image tag, environment and its refs, the CI codebase's build), then the request's literal
`name=value` words for what they leave open. A contradiction, a word the template does not
have, or a required input nobody gave is a question back, for deploys and CI runs alike.
"""

from __future__ import annotations

import json
from typing import Any

from workflow.agents.base import Refusal
from workflow.agents.harness_expert.inputs import RuntimeInput, fill_template, runtime_inputs
from workflow.catalog import ServiceEntry

__all__ = [
    "ENVIRONMENT_INPUTS",
    "IMAGE_TAG_INPUTS",
    "RequestAnswers",
    "fill_inputs",
    "given_inputs",
    "plain",
]

IMAGE_TAG_INPUTS = frozenset({"image_tag", "imagetag", "tag", "version", "image_version"})
ENVIRONMENT_INPUTS = frozenset({"environment", "env", "environment_name", "target_env"})


def plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _codebase_build(given: dict[str, str], entry: ServiceEntry | None) -> dict | None:
    """The CI codebase's `build` input: a branch or git tag the request names (`branch=...`,
    `git_tag=...`), else the main branch of the service's repository (the branch the bot
    creates repositories with); None (asked back) when the catalog names no repository."""
    if given.get("git_tag"):
        return {"type": "tag", "spec": {"tag": given["git_tag"]}}
    if given.get("branch"):
        return {"type": "branch", "spec": {"branch": given["branch"]}}
    if entry is not None and entry.repository:
        return {"type": "branch", "spec": {"branch": "main"}}
    return None


_CODEBASE_WORDS = ("branch", "git_tag")


def given_inputs(context: dict[str, Any]) -> dict[str, str]:
    """The request's `name=value` inputs, checked: literal values only. A Harness expression
    (`<+secrets.getValue(...)>`, `<+pipeline...>`) typed in Slack would run with the
    pipeline's rights, so it is refused, not passed on."""
    given = context.get("runtime_inputs") or {}
    if not isinstance(given, dict):
        raise Refusal("runtime inputs are given as name=value words, e.g. change_ticket=CHG-12")
    checked: dict[str, str] = {}
    for name, value in given.items():
        text = str(value)
        if "<+" in text or "${" in text:
            raise Refusal(
                f"{name}={text[:60]}: a runtime input here is a literal value, not a Harness "
                "expression; give the value itself"
            )
        if not text.isprintable() or len(text) > 500:
            raise Refusal(f"{name}: give a printable value of at most 500 characters")
        checked[str(name)] = text
    return checked


class RequestAnswers:
    """Fills a pipeline's runtime inputs from a deploy request: what the request and the
    catalog say, then the request's `name=value` words for what they leave open. Records
    what it filled, which words it used, and any word contradicting the request."""

    def __init__(
        self, entry: ServiceEntry | None, environment: str, tag: str, given: dict[str, str]
    ) -> None:
        refs = entry.harness.environments.get(environment) if entry and entry.harness else None
        self.entry, self.tag, self.given = entry, tag, given
        self.env_ref = refs.environment if refs else environment
        self.infra = refs.infrastructure if refs else None
        self.used: dict[str, Any] = {}
        self.words_used: set[str] = set()
        self.conflicts: list[str] = []

    def _word_for(self, field: RuntimeInput) -> str | None:
        """The `name=value` word naming this field: its full path, else its own name."""
        for want in (field.fqn.lower(), field.key.lower()):
            for name in self.given:
                if name.lower() == want:
                    return name
        return None

    def _derived(self, field: RuntimeInput) -> Any:
        key = field.key.lower()
        if key in IMAGE_TAG_INPUTS:
            return self.tag or None  # no tag: a CI run (ci.py) asks for it back
        if key == "environmentref":
            return self.env_ref
        if key == "infrastructuredefinitions" and self.infra:
            return [{"identifier": self.infra}]
        if key in {"infrastructureref", "infrastructure"} and self.infra:
            return self.infra
        if key in ENVIRONMENT_INPUTS:
            return self.env_ref  # what the pipeline passes on as environmentRef
        if key == "build" and field.path[-2:] == ("codebase", "build"):
            self.words_used.update(w for w in _CODEBASE_WORDS if w in self.given)
            return _codebase_build(self.given, self.entry)
        return None

    def __call__(self, field: RuntimeInput) -> Any:
        value = self._derived(field)
        word = self._word_for(field)
        if word is not None:
            self.words_used.add(word)
            if value is None:
                value = self.given[word]
            elif str(value) != self.given[word]:
                self.conflicts.append(
                    f"{word}={self.given[word]} contradicts the request, which makes "
                    f"{field.fqn} {plain(value)}"
                )
        if value is not None:
            self.used[field.fqn] = value
        return value

    def unused(self) -> list[str]:
        return [w for w in self.given if w not in self.words_used]


def fill_inputs(
    template: str, answer: RequestAnswers, *, whose: str, example: str, or_else: str = ""
) -> str:
    """The runtime inputs YAML of `template` filled by `answer`; a contradiction, a given
    name the template does not have, or a required input nobody gave is a question back
    (`whose`: "pipeline X" or "pipeline X's CI stages"; `example`: a request to amend)."""
    try:
        inputs, missing = fill_template(template, answer) if template else ("", [])
    except ValueError as exc:
        raise Refusal(f"{whose}: {exc}") from None
    if answer.conflicts:
        raise Refusal(f"{whose}: {'; '.join(answer.conflicts)}")
    if answer.unused():
        names = ", ".join(f.key for f in runtime_inputs(template)) or "none"
        raise Refusal(
            f"{whose}: no runtime input named {', '.join(answer.unused())} (the runtime "
            f"inputs: {names}); nothing was run"
        )
    if missing:
        names = ", ".join(m.fqn for m in missing)
        raise Refusal(
            f"{whose}: runtime input(s) I cannot fill from the request: {names}. Give "
            f"them as name=value, e.g. '{example} {missing[0].key}=...'{or_else}"
        )
    return inputs
