"""Pipeline edits: one change (add or remove an approval, add an environment, change the
deploy strategy) applied to an existing pipeline's v0 YAML, said back as one sentence per
change. Pure (no I/O), like the rest of authoring, whose stages and readers it reuses, so
the node previews exactly the YAML it will send and its diff.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from workflow.agents.harness_expert.authoring import (
    _ALLOWED_VALUES,
    _APPROVAL_TIMEOUT,
    _ROLLBACK_STEP_TYPES,
    _RUNTIME_ENVIRONMENT,
    _STRATEGY_STEP_TYPES,
    _STRATEGY_WORDS,
    PROMOTION_ORDER,
    DesignError,
    _approval_stage,
    _canonical_list,
    _deploy_stage,
    _environment_ref,
    _load_pipeline,
    _service_ref,
    _stage_nodes,
    _step_types,
    _strategy,
    _strategy_steps,
    dump_yaml,
    environment_of_stage,
    strategy_of_stage,
)
from workflow.catalog import ServiceEntry
from workflow.environments import canonical_environment

__all__ = ["edit_pipeline"]

_CHANGES = ("add_approval", "remove_approval", "add_environment", "change_strategy")


def edit_pipeline(
    yaml_text: str, context: dict, entry: ServiceEntry | None
) -> tuple[str, list[str]]:
    """Apply the change `context["pipeline_change"]` names to an existing pipeline.

    Returns the new YAML and one sentence per change. Everything not changed is kept (the
    YAML is re-dumped, so its formatting is normalised). A change that is already in place
    raises `DesignError` ("... already has ..."), so applying an edit twice is harmless.
    """
    change = context.get("pipeline_change")
    if change not in _CHANGES:
        raise DesignError(
            'What should change in the pipeline? For example: "add an approval before '
            'production", "remove the approval before staging", "add staging" or '
            '"switch to canary".'
        )
    data = _load_pipeline(yaml_text)
    pipeline = data["pipeline"]
    label = pipeline.get("name") or pipeline.get("identifier") or "the pipeline"
    if change == "add_approval":
        said = _add_approval(pipeline, context, entry, label)
    elif change == "remove_approval":
        said = _remove_approval(pipeline, context, entry, label)
    elif change == "add_environment":
        said = _add_environment(pipeline, context, entry, label)
    else:
        said = _change_strategy(pipeline, context, entry, label)
    return dump_yaml(data), said


def _stage_identifiers(pipeline: dict[str, Any]) -> list[str]:
    return [str(s.get("identifier")) for s in _stage_nodes(pipeline["stages"])]


def _deploy_positions(
    pipeline: dict[str, Any], entry: ServiceEntry | None
) -> list[tuple[int, str]]:
    """(index in `stages`, canonical environment) of each top-level Deployment stage."""
    found = []
    for index, item in enumerate(pipeline["stages"]):
        stage = item.get("stage") if isinstance(item, dict) else None
        if isinstance(stage, dict) and stage.get("type") == "Deployment":
            env = environment_of_stage(stage, entry)
            if env is not None:
                found.append((index, env))
    return found


def _is_approval(item: Any) -> bool:
    if not isinstance(item, dict) or not isinstance(item.get("stage"), dict):
        return False
    stage = item["stage"]
    if stage.get("type") == "Approval":
        return True
    spec = stage.get("spec") if isinstance(stage.get("spec"), dict) else {}
    execution = spec.get("execution") if isinstance(spec.get("execution"), dict) else {}
    types = list(_step_types(execution.get("steps")))
    return bool(types) and all(t.endswith("Approval") for t in types)


def _target_environment(context: dict, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = context.get(key)
        if isinstance(value, (list, tuple)) and value:
            value = value[0]
        if isinstance(value, str):
            env = canonical_environment(value)
            if env:
                return env
    return None


def _deploy_index(
    pipeline: dict[str, Any], env: str, entry: ServiceEntry | None, label: str
) -> int:
    for index, found in _deploy_positions(pipeline, entry):
        if found == env:
            return index
    deployed = [e for _, e in _deploy_positions(pipeline, entry)]
    where = ", ".join(deployed) if deployed else "no environment I can recognise"
    raise DesignError(
        f"{label} has no deploy stage for {env} (it deploys to {where}). Say which "
        f'environment, for example "add an approval before {deployed[-1] if deployed else env}".'
    )


def _add_approval(
    pipeline: dict[str, Any], context: dict, entry: ServiceEntry | None, label: str
) -> list[str]:
    env = _target_environment(context, ("approval_before", "environment", "environments"))
    if env is None:
        deployed = [e for _, e in _deploy_positions(pipeline, entry)]
        if "production" not in deployed and not _deploys_at_run_time(pipeline, "production"):
            raise DesignError(
                "Before which environment should the approval be? Say for example "
                '"add an approval before staging".'
            )
        env = "production"
    if env in {e for _, e in _deploy_positions(pipeline, entry)}:
        index, condition = _deploy_index(pipeline, env, entry, label), None
        if index > 0 and _is_approval(pipeline["stages"][index - 1]):
            raise DesignError(f"{label} already has an approval before {env}.")
    else:  # a stage whose environment is chosen at run time, or a clear error
        index, condition = _runtime_deploy(pipeline, env, entry, label)
        if any(_when(item) == condition for item in _approvals_before(pipeline, index)):
            raise DesignError(f"{label} already has an approval before {env}.")
    service = _service_for_messages(pipeline, entry)
    stage = _approval_stage(env, service, entry, existing=_stage_identifiers(pipeline))
    if condition is not None:
        stage["stage"]["when"] = {"pipelineStatus": "Success", "condition": condition}
    pipeline["stages"].insert(index, stage)
    groups = ", ".join(
        stage["stage"]["spec"]["execution"]["steps"][0]["step"]["spec"]["approvers"]["userGroups"]
    )
    deploy_name = pipeline["stages"][index + 1]["stage"].get("name")
    when = f", only in runs where {condition}" if condition else ""
    return [
        f"Added approval stage {stage['stage']['name']!r} before {deploy_name!r}{when}: one "
        f"approval from {groups} within {_APPROVAL_TIMEOUT}."
    ]


def _runtime_deploy(
    pipeline: dict[str, Any], env: str, entry: ServiceEntry | None, label: str
) -> tuple[int, str]:
    """(index, `when` condition) for an approval before `env` in a pipeline whose Deployment
    stage takes its environment from a pipeline variable at run time
    (`environmentRef: <+pipeline.variables.environment>`): the approval stage runs only
    when the variable names `env`."""
    variables = {
        str(v.get("name")): v for v in pipeline.get("variables") or () if isinstance(v, dict)
    }
    for index, item in enumerate(pipeline["stages"]):
        stage = item.get("stage") if isinstance(item, dict) else None
        if not isinstance(stage, dict) or stage.get("type") != "Deployment":
            continue
        found = _RUNTIME_ENVIRONMENT.fullmatch(_environment_ref(stage) or "")
        if found is None:
            continue
        value = _runtime_value(variables.get(found.group(1)), env, entry)
        if value is not None:
            return index, f'<+pipeline.variables.{found.group(1)}> == "{value}"'
    _deploy_index(pipeline, env, entry, label)  # raises: no stage deploys there
    raise AssertionError("unreachable")


def _deploys_at_run_time(pipeline: dict[str, Any], env: str) -> bool:
    try:
        _runtime_deploy(pipeline, env, None, "")
    except DesignError:
        return False
    return True


def _runtime_value(variable: dict[str, Any] | None, env: str, entry: ServiceEntry | None):
    """The value of an environment variable of the pipeline that means `env`: the catalog's
    Harness environment ref, else the allowed value that names it; None when the variable's
    allowed values exclude `env`."""
    ref = None
    if entry is not None and entry.harness is not None and env in entry.harness.environments:
        ref = entry.harness.environments[env].environment
    raw = str((variable or {}).get("value") or "")
    allowed = _ALLOWED_VALUES.search(raw)
    if allowed is None:
        return ref or env
    values = [v.strip() for v in allowed.group(1).split(",") if v.strip()]
    if ref in values:
        return ref
    return next((v for v in values if canonical_environment(v) == env), None)


def _approvals_before(pipeline: dict[str, Any], index: int) -> Iterator[Any]:
    """The approval stages right before the stage at `index`, nearest first."""
    stages = pipeline["stages"]
    while index > 0 and _is_approval(stages[index - 1]):
        index -= 1
        yield stages[index]


def _when(item: Any) -> str | None:
    when = item["stage"].get("when") if isinstance(item.get("stage"), dict) else None
    return when.get("condition") if isinstance(when, dict) else None


def _service_for_messages(pipeline: dict[str, Any], entry: ServiceEntry | None) -> str:
    if entry is not None:
        return entry.name
    for stage in _stage_nodes(pipeline["stages"]):
        spec = stage.get("spec") if isinstance(stage.get("spec"), dict) else {}
        service = spec.get("service")
        if isinstance(service, dict) and isinstance(service.get("serviceRef"), str):
            return service["serviceRef"]
    return str(pipeline.get("identifier") or "the service")


def _remove_approval(
    pipeline: dict[str, Any], context: dict, entry: ServiceEntry | None, label: str
) -> list[str]:
    env = _target_environment(context, ("approval_before", "environment", "environments"))
    stages = pipeline["stages"]
    if env is None:
        gated = [
            (i, e)
            for i, e in _deploy_positions(pipeline, entry)
            if i and _is_approval(stages[i - 1])
        ]
        if len(gated) != 1:
            raise DesignError(
                f"{label} has {len(gated) or 'no'} approval stages before a deploy; say which "
                'to remove, for example "remove the approval before production".'
            )
        env = gated[0][1]
    if env in {e for _, e in _deploy_positions(pipeline, entry)}:
        index = _deploy_index(pipeline, env, entry, label)
        gate = index - 1 if index > 0 and _is_approval(stages[index - 1]) else None
    else:  # an approval that runs only when a run-time variable names `env`
        index, condition = _runtime_deploy(pipeline, env, entry, label)
        gate = next(
            (stages.index(i) for i in _approvals_before(pipeline, index) if _when(i) == condition),
            None,
        )
    if gate is None:
        raise DesignError(f"{label} has no approval before {env}; there is nothing to remove.")
    removed = stages.pop(gate)["stage"]
    return [f"Removed approval stage {removed.get('name')!r} before the {env} deploy."]


def _add_environment(
    pipeline: dict[str, Any], context: dict, entry: ServiceEntry | None, label: str
) -> list[str]:
    deployed = {e for _, e in _deploy_positions(pipeline, entry)}
    asked = _canonical_list(
        context.get("environments")
        or ([context["environment"]] if context.get("environment") else [])
    )
    new = [env for env in asked if env not in deployed]
    if not asked:
        raise DesignError(
            'Which environment should the pipeline also deploy to? Say for example "add '
            "staging to payment-service's pipeline\"."
        )
    if not new:
        raise DesignError(f"{label} already deploys to {', '.join(asked)}.")
    existing_deploys = [
        pipeline["stages"][i]["stage"] for i, _ in _deploy_positions(pipeline, entry)
    ]
    strategy = (
        _strategy(context["strategy"])
        if context.get("strategy")
        else next((s for s in map(strategy_of_stage, existing_deploys) if s), "rolling")
    )
    service_ref = _existing_service_ref(existing_deploys) or _service_ref(
        _service_for_messages(pipeline, entry), entry
    )
    approvals = context.get("approval_before")
    said = []
    for env in new:
        at = _insert_position(pipeline, env, entry)
        stage = _deploy_stage(
            env, strategy, service_ref, entry, existing=_stage_identifiers(pipeline)
        )
        pipeline["stages"].insert(at, stage)
        text = f"Added stage {stage['stage']['name']!r} ({_STRATEGY_WORDS[strategy]} deploy)"
        wants_approval = (
            env in _canonical_list(approvals) if approvals is not None else (env == "production")
        )
        if wants_approval:
            approval = _approval_stage(
                env,
                _service_for_messages(pipeline, entry),
                entry,
                existing=_stage_identifiers(pipeline),
            )
            pipeline["stages"].insert(at, approval)
            text += f", after approval stage {approval['stage']['name']!r}"
        said.append(text + ".")
    return said


def _existing_service_ref(stages: list[dict[str, Any]]) -> str | None:
    for stage in stages:
        service = stage.get("spec", {}).get("service")
        if isinstance(service, dict) and isinstance(service.get("serviceRef"), str):
            if not service["serviceRef"].startswith("<+"):
                return service["serviceRef"]
    return None


def _insert_position(pipeline: dict[str, Any], env: str, entry: ServiceEntry | None) -> int:
    """Where a deploy stage for `env` goes: before the first deploy stage of a later
    environment (and before that stage's approval), else at the end."""
    rank = PROMOTION_ORDER.index(env)
    stages = pipeline["stages"]
    for index, found in _deploy_positions(pipeline, entry):
        if PROMOTION_ORDER.index(found) > rank:
            while index > 0 and _is_approval(stages[index - 1]):
                index -= 1
            return index
    return len(stages)


def _change_strategy(
    pipeline: dict[str, Any], context: dict, entry: ServiceEntry | None, label: str
) -> list[str]:
    if not context.get("strategy"):
        raise DesignError(
            'Which deploy strategy? Say for example "switch to canary" (rolling, canary or '
            "blue-green)."
        )
    strategy = _strategy(context["strategy"])
    only = _target_environment(context, ("environment",))
    targets = [
        (index, env)
        for index, env in _deploy_positions(pipeline, entry)
        if only is None or env == only
    ]
    if not targets:
        where = f" to {only}" if only else ""
        raise DesignError(f"{label} has no Kubernetes deploy stage{where} to change.")
    said = []
    for index, env in targets:
        stage = pipeline["stages"][index]["stage"]
        before = strategy_of_stage(stage)
        if before == strategy:
            continue
        _replace_strategy_steps(stage, strategy)
        was = _STRATEGY_WORDS.get(before or "", "unrecognised")
        said.append(
            f"Stage {stage.get('name')!r} ({env}) now deploys {_STRATEGY_WORDS[strategy]} "
            f"(was {was})."
        )
    if not said:
        raise DesignError(f"{label} already deploys with {_STRATEGY_WORDS[strategy]}.")
    return said


def _is_strategy_entry(item: Any, types: frozenset[str]) -> bool:
    if not isinstance(item, dict):
        return False
    if isinstance(item.get("step"), dict):
        return item["step"].get("type") in types
    if isinstance(item.get("stepGroup"), dict):
        inner = list(_step_types(item["stepGroup"].get("steps")))
        return bool(inner) and all(t in types for t in inner)
    return False


def _splice(items: list[Any], types: frozenset[str], new: list[dict[str, Any]]) -> list[Any]:
    """`items` with its strategy entries replaced by `new`, at the first one's place."""
    kept: list[Any] = []
    placed = False
    for item in items:
        if _is_strategy_entry(item, types):
            if not placed:
                kept.extend(new)
                placed = True
            continue
        kept.append(item)
    if not placed:
        kept = [*new, *kept] if types is _STRATEGY_STEP_TYPES else [*kept, *new]
    return kept


def _replace_strategy_steps(stage: dict[str, Any], strategy: str) -> None:
    spec = stage.setdefault("spec", {})
    execution = spec.setdefault("execution", {})
    steps, rollback = _strategy_steps(strategy)
    execution["steps"] = _splice(list(execution.get("steps") or []), _STRATEGY_STEP_TYPES, steps)
    execution["rollbackSteps"] = _splice(
        list(execution.get("rollbackSteps") or []), _ROLLBACK_STEP_TYPES, rollback
    )
