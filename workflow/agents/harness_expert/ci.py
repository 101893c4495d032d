"""A pipeline's CI stages run alone, for another agent (testing_agent's unit tests).

- `plan_ci_run`: the pipeline's stages of type `CI` and the runtime inputs of those stages
  filled from the input template as a deploy fills them (the CI codebase's `build`: a
  `branch=`/`git_tag=` word, else the repository's main branch); a pipeline without a CI
  stage, or an input nothing fills, is a `Refusal` saying so.
- `run_ci_stages`: starts those stages only (selective stage execution), follows the
  execution with the same follower as a deploy (stage changes written as progress, bounded by
  HARNESS_FOLLOW_TIMEOUT), then reads each CI stage's published test results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from workflow.agents.base import Refusal
from workflow.agents.harness_expert.answers import RequestAnswers, fill_inputs, given_inputs
from workflow.agents.harness_expert.client import (
    Execution,
    HarnessClient,
    HarnessError,
    TestReport,
)
from workflow.agents.harness_expert.follow import until_settled
from workflow.catalog import ServiceEntry

__all__ = [
    "CiPlan",
    "CiRun",
    "HarnessError",
    "TestReport",
    "ci_stages",
    "plan_ci_run",
    "run_ci_stages",
    "still_planned",
]


@dataclass
class CiPlan:
    pipeline: str
    stages: list[dict[str, str]]  # identifier, name of each CI stage
    inputs: str  # the input set YAML (of the CI stages)
    used: dict[str, Any]  # runtime input fqn -> value
    version: str


@dataclass
class CiRun:
    execution: Execution | None
    why: str = ""  # why following failed, when execution is None
    reports: dict[str, TestReport] = field(default_factory=dict)  # stage id -> its results


def ci_stages(pipeline_yaml: str) -> list[dict[str, str]]:
    """The stages of type CI, in pipeline order (parallel groups included)."""
    doc = (yaml.safe_load(pipeline_yaml) or {}).get("pipeline") or {}
    out = []
    for item in doc.get("stages") or []:
        group = [p.get("stage") or {} for p in item.get("parallel") or []] or [
            item.get("stage") or {}
        ]
        for stage in group:
            if stage.get("type") == "CI" and stage.get("identifier"):
                ident = str(stage["identifier"])
                out.append({"identifier": ident, "name": str(stage.get("name") or ident)})
    return out


async def plan_ci_run(
    client: HarnessClient,
    pipeline: str,
    entry: ServiceEntry | None,
    environment: str,
    given: Any,
) -> CiPlan:
    """The CI stages and their inputs; `given`: the request's `name=value` words."""
    given = given_inputs({"runtime_inputs": given})
    stored = await client.get_pipeline(pipeline)
    if stored is None:
        raise Refusal(f"pipeline {pipeline} does not exist on {client.label}")
    stages = ci_stages(stored.yaml)
    if not stages:
        kinds = _stage_types(stored.yaml)
        raise Refusal(
            f"pipeline {pipeline} has no CI stage (its stages: {kinds or 'none'}), so it cannot "
            "run the unit tests; add a CI stage that runs them, or a `unit_tests:` Job to the "
            "catalog entry"
        )
    ids = [s["identifier"] for s in stages]
    template = await client.input_template(pipeline, ids)
    answer = RequestAnswers(entry, environment, "", given)
    inputs = fill_inputs(
        template,
        answer,
        whose=f"pipeline {pipeline}'s CI stages",
        example=f"run the unit tests of {entry.name if entry else 'X'}",
    )
    return CiPlan(pipeline, stages, inputs, dict(answer.used), stored.version)


async def still_planned(client: HarnessClient, pipeline: str, version: str | None) -> str | None:
    """None when the pipeline is still the version planned against, else why not."""
    current = await client.get_pipeline(pipeline)
    if current is None:
        return f"pipeline {pipeline} no longer exists on {client.label}"
    if version and current.version != version:
        return (
            f"refused: pipeline {pipeline} changed since this plan was made (planned against "
            f"version {version}, it is now version {current.version}); nothing was run. Ask "
            "again to plan against the current pipeline."
        )
    return None


async def run_ci_stages(
    client: HarnessClient, pipeline: str, stages: list[str], inputs: str
) -> tuple[Execution, CiRun]:
    """Start the stages, follow the execution to its end, read the test results.
    Starting may raise `HarnessError`; following and reading failures are in the `CiRun`."""
    started = await client.execute_stages(pipeline, stages, inputs)
    execution, why = await until_settled(client, started.id)
    run = CiRun(execution, why)
    if execution is None or not execution.run_sequence:
        return started, run
    for stage in stages:
        try:
            report = await client.test_report(pipeline, int(execution.run_sequence), stage)
        except HarnessError as exc:
            run.why = f"its test results could not be read: {exc.message}"
            break
        if report is not None:
            run.reports[stage] = report
    return started, run


def _stage_types(pipeline_yaml: str) -> str:
    doc = (yaml.safe_load(pipeline_yaml) or {}).get("pipeline") or {}
    out = []
    for item in doc.get("stages") or []:
        for stage in [p.get("stage") or {} for p in item.get("parallel") or []] or [
            item.get("stage") or {}
        ]:
            out.append(f"{stage.get('name') or stage.get('identifier')} ({stage.get('type')})")
    return ", ".join(out)
