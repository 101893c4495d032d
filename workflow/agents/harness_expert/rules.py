"""The structural rules a Harness v0 pipeline must follow, checked without Harness's schema.

Harness's own JSON schema is 3.4 MB; the product cannot ship it, and a pipeline that breaks
one of these rules would be refused by Harness anyway (`SCHEMA_VALIDATION_FAILED`). The
rules cover what the generator writes and what people most often get wrong by hand: the
required identifiers, stage and step shapes, what a Deployment, CI or HarnessApproval needs,
runtime inputs and step timeouts. Each problem names the offending node by its FQN
(`$.pipeline.stages[1].stage.spec.execution`), as Harness's `schemaErrors` do, so the
simulated Harness server can answer with the same shape.

Pure and deterministic: text in, problems out (structure in document order, then runtime
inputs).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

__all__ = [
    "KNOWN_STAGE_TYPES",
    "STEP_TYPES_BY_STAGE",
    "Problem",
    "check_pipeline",
    "problems_sentence",
]

_IDENTIFIER = re.compile(r"[a-zA-Z_][0-9a-zA-Z_]{0,127}")
_NAME = re.compile(r"[a-zA-Z_0-9.-][-0-9a-zA-Z_\s.]{0,127}")
# `<+input>` with optional modifiers, as Harness accepts them.
_RUNTIME_INPUT = re.compile(
    r"<\+input>(?:\.(?:executionInput\(\)|(?:allowedValues|selectOneFrom|selectManyFrom"
    r"|default|regex)\(.+?\)))*"
)
# 10m, 1h 30m, 1d, 45s; or an expression.
_TIMEOUT = re.compile(r"(?:[1-9]\d*[smhdw])(?:\s?\d+[smhdw])*|.*<\+.+>.*")

_COMMON_STEPS = frozenset({"ShellScript", "Http", "Wait", "Email", "HarnessApproval"})
_CI_STEPS = frozenset(
    {
        "Run",
        "RunTests",
        "Background",
        "Plugin",
        "Action",
        "GitClone",
        "BuildAndPushDockerRegistry",
        "BuildAndPushECR",
        "BuildAndPushGCR",
        "BuildAndPushGAR",
        "BuildAndPushACR",
        "RestoreCacheGCS",
        "RestoreCacheS3",
        "SaveCacheGCS",
        "SaveCacheS3",
    }
)
_K8S_STEPS = frozenset(
    {
        "K8sRollingDeploy",
        "K8sRollingRollback",
        "K8sCanaryDeploy",
        "K8sCanaryDelete",
        "K8sBlueGreenDeploy",
        "K8sBGSwapServices",
        "K8sBlueGreenStageScaleDown",
        "K8sApply",
        "K8sDelete",
        "K8sScale",
        "HelmDeploy",
        "HelmRollback",
        "JiraApproval",
        "ServiceNowApproval",
        "Verify",
    }
)
# The step types each stage type may hold (CI steps only in CI, K8s steps only in a deploy).
STEP_TYPES_BY_STAGE: dict[str, frozenset[str]] = {
    "CI": _CI_STEPS,
    "Deployment": _K8S_STEPS | _COMMON_STEPS,
    "Approval": _COMMON_STEPS | {"JiraApproval", "ServiceNowApproval"},
    "Custom": _COMMON_STEPS | {"JiraApproval", "ServiceNowApproval"},
}
KNOWN_STAGE_TYPES = tuple(STEP_TYPES_BY_STAGE)
# Harness's CI steps run until done; every other stage's steps need a timeout.
_NEEDS_TIMEOUT = frozenset({"Deployment", "Approval", "Custom"})


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (`fqn`, Harness's notation) and what is wrong."""

    fqn: str
    message: str


def problems_sentence(problems: list[Problem]) -> str:
    """One sentence for a user: "the pipeline is invalid: <fqn>: <message>; ..."."""
    if not problems:
        return "the pipeline is valid"
    return "the pipeline is invalid: " + "; ".join(f"{p.fqn}: {p.message}" for p in problems)


def check_pipeline(yaml_text: str) -> list[Problem]:
    """Every problem of a v0 pipeline YAML ([] when valid): structure first, then inputs."""
    try:
        data = yaml.safe_load(yaml_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        return [Problem("$", f"the YAML does not parse{where}: {problem}")]
    if not isinstance(data, dict) or "pipeline" not in data:
        return [Problem("$", "the YAML must be a mapping with a `pipeline` key at its top")]
    pipeline = data["pipeline"]
    if not isinstance(pipeline, dict):
        return [Problem("$.pipeline", "must be a mapping")]
    checker = _Checker(pipeline)
    checker.run()
    checker.problems.extend(_runtime_input_problems(data, "$"))
    return checker.problems


def _is_input(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("<+")


class _Checker:
    """Walks one pipeline, collecting problems."""

    def __init__(self, pipeline: dict[str, Any]) -> None:
        self.pipeline = pipeline
        self.problems: list[Problem] = []
        self.stage_ids: dict[str, str] = {}

    def add(self, fqn: str, message: str) -> None:
        self.problems.append(Problem(fqn, message))

    # -- pipeline

    def run(self) -> None:
        p, at = self.pipeline, "$.pipeline"
        self.identifier(p, at, "pipeline")
        self.name(p, at)
        for key in ("projectIdentifier", "orgIdentifier"):
            value = p.get(key)
            if not isinstance(value, str) or not value.strip():
                self.add(f"{at}.{key}", f"{key} is required")
            elif not _IDENTIFIER.fullmatch(value) and not _is_input(value):
                self.add(f"{at}.{key}", f"{value!r} is not a Harness identifier")
        stages = p.get("stages")
        if not isinstance(stages, list) or not stages:
            self.add(f"{at}.stages", "a pipeline needs at least one stage")
            return
        for i, item in enumerate(stages):
            self.stage_item(item, f"{at}.stages[{i}]")

    def identifier(self, node: dict[str, Any], at: str, what: str) -> str | None:
        value = node.get("identifier")
        if value is None:
            self.add(f"{at}.identifier", f"the {what} needs an identifier")
            return None
        if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
            self.add(
                f"{at}.identifier",
                f"{value!r} is not a valid identifier (letters, digits and '_', starting with "
                "a letter or '_', at most 128 characters)",
            )
            return None
        return value

    def name(self, node: dict[str, Any], at: str) -> None:
        value = node.get("name")
        if value is None:
            self.add(f"{at}.name", "a name is required")
        elif not isinstance(value, str) or not _NAME.fullmatch(value):
            self.add(
                f"{at}.name",
                f"{value!r} is not a valid name (letters, digits, spaces, '_', '-' and '.', "
                "at most 128 characters)",
            )

    # -- stages

    def stage_item(self, item: Any, at: str) -> None:
        if not isinstance(item, dict) or len({"stage", "parallel"} & set(item)) != 1:
            self.add(at, "each entry of stages must hold exactly one of `stage` or `parallel`")
            return
        if "parallel" in item:
            group = item["parallel"]
            if not isinstance(group, list) or not group:
                self.add(f"{at}.parallel", "a parallel group needs a list of stages")
                return
            for j, sub in enumerate(group):
                if not isinstance(sub, dict) or not isinstance(sub.get("stage"), dict):
                    self.add(f"{at}.parallel[{j}]", "each entry of parallel must be a `stage`")
                else:
                    self.stage(sub["stage"], f"{at}.parallel[{j}].stage")
            return
        if not isinstance(item["stage"], dict):
            self.add(f"{at}.stage", "a stage must be a mapping")
            return
        self.stage(item["stage"], f"{at}.stage")

    def stage(self, stage: dict[str, Any], at: str) -> None:
        identifier = self.identifier(stage, at, "stage")
        if identifier is not None:
            first = self.stage_ids.setdefault(identifier, at)
            if first != at:
                self.add(
                    f"{at}.identifier", f"duplicate stage identifier {identifier!r} (also {first})"
                )
        self.name(stage, at)
        if "template" in stage:
            return  # a stage template: its body lives in the template
        kind = stage.get("type")
        if kind not in STEP_TYPES_BY_STAGE:
            self.add(
                f"{at}.type",
                f"unknown stage type {kind!r} (expected one of {', '.join(KNOWN_STAGE_TYPES)})",
            )
            return
        spec = stage.get("spec")
        if not isinstance(spec, dict):
            self.add(f"{at}.spec", f"a {kind} stage needs a spec")
            return
        if kind == "Deployment":
            self.deployment(stage, spec, at)
        elif kind == "CI":
            self.ci(spec, at)
        self.execution(kind, spec, f"{at}.spec")

    def deployment(self, stage: dict[str, Any], spec: dict[str, Any], at: str) -> None:
        if not spec.get("deploymentType"):
            self.add(f"{at}.spec.deploymentType", "a Deployment stage needs a deploymentType")
        if not any(spec.get(k) for k in ("service", "services")):
            self.add(f"{at}.spec.service", "a Deployment stage needs a service (serviceRef)")
        elif isinstance(spec.get("service"), dict):
            service = spec["service"]
            if not service.get("serviceRef") and not service.get("useFromStage"):
                self.add(f"{at}.spec.service.serviceRef", "the service needs a serviceRef")
        if not any(spec.get(k) for k in ("environment", "environments", "environmentGroup")):
            self.add(
                f"{at}.spec.environment", "a Deployment stage needs an environment (environmentRef)"
            )
        elif isinstance(spec.get("environment"), dict):
            self.environment(spec["environment"], f"{at}.spec.environment")
        strategies = stage.get("failureStrategies")
        if not strategies or not (isinstance(strategies, list) or _is_input(strategies)):
            self.add(f"{at}.failureStrategies", "a Deployment stage needs failureStrategies")

    def environment(self, env: dict[str, Any], at: str) -> None:
        if env.get("useFromStage"):
            return
        if not env.get("environmentRef"):
            self.add(f"{at}.environmentRef", "the environment needs an environmentRef")
        if env.get("deployToAll") is True or _is_input(env.get("deployToAll")):
            return
        infra = env.get("infrastructureDefinitions")
        if not infra or not (isinstance(infra, list) or _is_input(infra)):
            self.add(
                f"{at}.infrastructureDefinitions",
                "the environment needs an infrastructure definition (or deployToAll: true)",
            )

    def ci(self, spec: dict[str, Any], at: str) -> None:
        if not any(spec.get(k) for k in ("infrastructure", "runtime")):
            self.add(
                f"{at}.spec.runtime",
                "a CI stage needs a runtime (e.g. type: Cloud) or an infrastructure",
            )
        if spec.get("cloneCodebase") is True:
            codebase = ((self.pipeline.get("properties") or {}).get("ci") or {}).get("codebase")
            if not isinstance(codebase, dict):
                self.add(
                    "$.pipeline.properties.ci.codebase",
                    f"{at} clones the codebase (cloneCodebase: true), so the pipeline needs "
                    "properties.ci.codebase (connectorRef, repoName, build)",
                )
            else:
                for key in ("connectorRef", "build"):
                    if not codebase.get(key):
                        self.add(f"$.pipeline.properties.ci.codebase.{key}", f"{key} is required")

    # -- steps

    def execution(self, kind: str, spec: dict[str, Any], at: str) -> None:
        execution = spec.get("execution")
        if not isinstance(execution, dict) or not execution.get("steps"):
            self.add(f"{at}.execution", f"a {kind} stage needs execution.steps")
            return
        seen: dict[str, str] = {}
        for key in ("steps", "rollbackSteps"):
            steps = execution.get(key)
            if steps is None:
                continue
            if not isinstance(steps, list):
                self.add(f"{at}.execution.{key}", f"{key} must be a list")
                continue
            for i, item in enumerate(steps):
                self.step_item(kind, item, f"{at}.execution.{key}[{i}]", seen)

    def step_item(self, kind: str, item: Any, at: str, seen: dict[str, str]) -> None:
        keys = {"step", "stepGroup", "parallel"} & set(item) if isinstance(item, dict) else set()
        if len(keys) != 1:
            self.add(at, "each entry must hold exactly one of `step`, `stepGroup` or `parallel`")
            return
        (key,) = keys
        body = item[key]
        if key == "parallel":
            if not isinstance(body, list) or not body:
                self.add(f"{at}.parallel", "a parallel group needs a list of steps")
                return
            for j, sub in enumerate(body):
                self.step_item(kind, sub, f"{at}.parallel[{j}]", seen)
            return
        if not isinstance(body, dict):
            self.add(f"{at}.{key}", f"a {key} must be a mapping")
            return
        self.unique_step(body, f"{at}.{key}", seen)
        if key == "stepGroup":
            self.name(body, f"{at}.stepGroup")
            steps = body.get("steps")
            if not isinstance(steps, list) or not steps:
                self.add(f"{at}.stepGroup.steps", "a step group needs steps")
                return
            for j, sub in enumerate(steps):
                self.step_item(kind, sub, f"{at}.stepGroup.steps[{j}]", seen)
            return
        self.step(kind, body, f"{at}.step")

    def unique_step(self, body: dict[str, Any], at: str, seen: dict[str, str]) -> None:
        identifier = self.identifier(body, at, "step")
        if identifier is None:
            return
        first = seen.setdefault(identifier, at)
        if first != at:
            self.add(
                f"{at}.identifier",
                f"duplicate step identifier {identifier!r} in this stage (also {first})",
            )

    def step(self, kind: str, step: dict[str, Any], at: str) -> None:
        self.name(step, at)
        if "template" in step:
            return
        step_type = step.get("type")
        allowed = STEP_TYPES_BY_STAGE[kind]
        if step_type not in allowed:
            self.add(
                f"{at}.type",
                f"step type {step_type!r} is not one a {kind} stage can run "
                f"(expected one of {', '.join(sorted(allowed))})",
            )
        timeout = step.get("timeout")
        if timeout is None:
            if kind in _NEEDS_TIMEOUT:
                self.add(f"{at}.timeout", f"a step in a {kind} stage needs a timeout (e.g. 10m)")
        elif not isinstance(timeout, str) or not _TIMEOUT.fullmatch(timeout):
            self.add(f"{at}.timeout", f"{timeout!r} is not a timeout (e.g. 10m, 1h 30m, 1d)")
        spec = step.get("spec")
        if not isinstance(spec, dict):
            self.add(f"{at}.spec", f"a {step_type} step needs a spec")
            return
        if step_type == "HarnessApproval":
            self.approval(spec, f"{at}.spec")

    def approval(self, spec: dict[str, Any], at: str) -> None:
        approvers = spec.get("approvers")
        if not isinstance(approvers, dict):
            self.add(f"{at}.approvers", "a HarnessApproval step needs approvers")
            return
        groups = approvers.get("userGroups")
        if not (_is_input(groups) or (isinstance(groups, list) and groups)):
            self.add(f"{at}.approvers.userGroups", "at least one approving user group is needed")
        count = approvers.get("minimumCount")
        if not _is_input(count) and (
            isinstance(count, bool) or not isinstance(count, int) or count < 1
        ):
            self.add(f"{at}.approvers.minimumCount", "minimumCount must be a number of at least 1")
        if "includePipelineExecutionHistory" not in spec:
            self.add(
                f"{at}.includePipelineExecutionHistory",
                "includePipelineExecutionHistory is required (true or false)",
            )


def _runtime_input_problems(node: Any, at: str) -> Iterator[Problem]:
    """Strings holding `<+input>` must be exactly a runtime input with known modifiers."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _runtime_input_problems(value, f"{at}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _runtime_input_problems(value, f"{at}[{i}]")
    elif isinstance(node, str) and "<+input" in node and not _RUNTIME_INPUT.fullmatch(node):
        yield Problem(
            at,
            f"{node!r} is not a runtime input: write <+input>, optionally followed by "
            ".default(value) or .allowedValues(a,b)",
        )
