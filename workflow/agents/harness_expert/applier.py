"""Apply an approved `harness` plan: exactly what was previewed, against the version planned.

- create: the planned YAML, unless a pipeline of that identifier appeared meanwhile (the same
  YAML: already done; other YAML: refused, nothing changed);
- update: only if Harness still has the version the plan was made against (`If-Match`); a
  pipeline someone changed since is refused as stale;
- deploy / rerun: the execution starts (only if the pipeline is still the planned version)
  and the `rollout` node follows it (`follow.follow_execution`);
- abort: the execution is interrupted with AbortAll.
"""

from __future__ import annotations

from workflow.agents.harness_expert.client import BACKEND, HarnessClient, HarnessError
from workflow.agents.spec import Applied, ApplyError, BackendMissing
from workflow.deps import WorkflowDeps
from workflow.plan import Plan

__all__ = ["apply_harness"]


async def apply_harness(plan: Plan, deps: WorkflowDeps) -> Applied:
    client: HarnessClient | None = deps.backend(BACKEND)
    if client is None:
        raise BackendMissing(deps.why_missing(BACKEND))
    body = plan.body or {}
    op, pipeline = body.get("op"), str(body.get("identifier") or plan.name)
    where = f" on {client.label}"
    try:
        if op == "create":
            return await _create(client, plan, pipeline, where)
        if op == "update":
            return await _update(client, plan, pipeline, where)
        if op in {"execute", "rerun"}:
            await _still_planned_version(client, plan, pipeline)
            if op == "execute":
                execution = await client.execute(pipeline, str(body.get("inputs") or ""))
            else:
                of = str(body["of"])
                execution = await client.rerun(pipeline, of, str(body.get("inputs") or ""))
            result = {"pipeline": pipeline, "execution": execution.id, "url": execution.url}
            said = f"started {plan.action} of {plan.target}{where}: {execution.url}"
            return Applied(result, where=where, rolling_out=True, said=said)
        if op == "abort":
            await client.abort(str(body["execution"]))
            return Applied({"pipeline": pipeline, "aborted": body["execution"]}, where=where)
    except HarnessError as exc:
        raise ApplyError(exc.message) from exc
    raise ApplyError(f"unknown Harness plan operation {op!r}")


async def _create(client: HarnessClient, plan: Plan, pipeline: str, where: str) -> Applied:
    text = plan.files[0].content
    existing = await client.get_pipeline(pipeline)
    if existing is not None:
        if existing.yaml.strip() == text.strip():  # this very plan, applied before
            return Applied({"pipeline": pipeline, "url": client.pipeline_url(pipeline)}, where)
        raise ApplyError(
            f"pipeline {pipeline} was created on {client.label} by someone else since this plan "
            f"(version {existing.version}); nothing changed. Ask again to plan a change to it."
        )
    await client.create_pipeline(text)
    return Applied({"pipeline": pipeline, "url": client.pipeline_url(pipeline)}, where=where)


async def _update(client: HarnessClient, plan: Plan, pipeline: str, where: str) -> Applied:
    text = plan.files[0].content
    current = await client.get_pipeline(pipeline)
    if current is None:
        raise ApplyError(f"pipeline {pipeline} no longer exists on {client.label}")
    if current.version != plan.resource_version:
        if current.yaml.strip() == text.strip():  # this very change, applied before
            return Applied({"pipeline": pipeline, "version": current.version}, where)
        raise ApplyError(_stale(pipeline, plan, current.version))
    try:
        await client.update_pipeline(pipeline, text, version=str(plan.resource_version))
    except HarnessError as exc:
        again = await client.get_pipeline(pipeline)
        if again is not None and again.version != plan.resource_version:
            raise ApplyError(_stale(pipeline, plan, again.version)) from exc
        raise
    after = await client.get_pipeline(pipeline)
    version = after.version if after else None
    url = client.pipeline_url(pipeline)
    return Applied({"pipeline": pipeline, "version": version, "url": url}, where=where)


async def _still_planned_version(client: HarnessClient, plan: Plan, pipeline: str) -> None:
    if plan.resource_version is None:
        return
    current = await client.get_pipeline(pipeline)
    if current is None:
        raise ApplyError(f"pipeline {pipeline} no longer exists on {client.label}")
    if current.version != plan.resource_version:
        raise ApplyError(_stale(pipeline, plan, current.version))


def _stale(pipeline: str, plan: Plan, now: str) -> str:
    return (
        f"refused: pipeline {pipeline} changed since this plan was made (planned against "
        f"version {plan.resource_version}, it is now version {now}); nothing was changed. "
        "Ask again to plan against the current pipeline."
    )
