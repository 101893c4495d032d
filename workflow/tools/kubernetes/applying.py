"""Applying an approved plan exactly as planned, and following the rollout it starts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace

from workflow.plan import Plan, compute_plan_hash
from workflow.tools.kubernetes.creating import _Creating
from workflow.tools.kubernetes.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    KubernetesError,
    StalePlanError,
)
from workflow.tools.kubernetes.names import validate_name
from workflow.tools.kubernetes.planning import PLAN_ACTIONS
from workflow.tools.kubernetes.reads import _Reads
from workflow.tools.kubernetes.shapes import _rollout_state


class _Applying(_Reads, _Creating):
    """Writes of approved plans; a plan whose object moved on is refused as stale."""

    async def apply(self, plan: Plan, *, wait: bool = True) -> dict[str, Any]:
        """Execute exactly the approved plan; follow the rollout when `wait`."""
        if plan.backend != self.backend_name:
            raise KubernetesError(
                f"plan is for backend {plan.backend!r}, not {self.backend_name!r}"
            )
        if plan.action not in PLAN_ACTIONS:
            raise InvalidInputError(f"unknown action {plan.action!r}")
        if not plan.plan_hash or compute_plan_hash(plan) != plan.plan_hash:
            raise KubernetesError("the plan does not match its hash; refusing to apply it")
        namespace = validate_name(plan.namespace, "namespace")
        started = time.monotonic()
        if plan.action == "provision":
            if plan.body is None:
                raise KubernetesError("provision plan has no namespace body")
            validate_name(plan.name, "namespace")
            try:
                created = await self._call(
                    self.client.create(Namespace.from_dict(plan.body)),
                    "namespace",
                    plan.name,
                    None,
                )
            except AlreadyExistsError:
                raise StalePlanError(
                    f"namespace '{plan.name}' was created after the plan was approved; "
                    "a new plan is needed"
                ) from None
            return {
                "applied": True,
                "action": plan.action,
                "target": plan.target,
                "rollout": "not_applicable",
                "status": {"namespace": plan.name, "phase": (created.status.phase or "Active")},
                "elapsed_s": round(time.monotonic() - started, 3),
            }
        name = validate_name(plan.name, "deployment")
        if plan.action == "deploy" and plan.body is not None and "create" in plan.body:
            return await self._apply_create(plan, started)
        if plan.action == "delete":
            current = await self._get_deployment(namespace, name)
            if current["metadata"]["resourceVersion"] != plan.resource_version:
                raise self._stale(name, namespace)
            await self._call(
                self.client.delete(Deployment, name, namespace=namespace),
                "deployment",
                name,
                namespace,
            )
            return {
                "applied": True,
                "action": plan.action,
                "target": plan.target,
                "rollout": "not_applicable",
                "status": None,
                "elapsed_s": round(time.monotonic() - started, 3),
            }
        if plan.patch is None:
            raise KubernetesError(f"{plan.action} plan has no patch")
        try:
            result = await self._call(
                self.client.patch(Deployment, name, plan.patch, namespace=namespace),
                "deployment",
                name,
                namespace,
            )
        except ConflictError:
            raise self._stale(name, namespace) from None
        generation = result.metadata.generation or 0
        applied = {
            "applied": True,
            "action": plan.action,
            "target": plan.target,
            "namespace": namespace,
            "name": name,
            "generation": generation,
        }
        if not wait:  # the caller follows the rollout (follow_rollout) when it chooses
            elapsed = round(time.monotonic() - started, 3)
            return {**applied, "rollout": "in_progress", "status": None, "elapsed_s": elapsed}
        followed = await self.follow_rollout(namespace, name, generation)
        return {**applied, **followed, "elapsed_s": round(time.monotonic() - started, 3)}

    async def follow_rollout(
        self, namespace: str, name: str, generation: int, *, details: bool = True
    ) -> dict[str, Any]:
        """Wait for the rollout of `generation`: {"rollout": complete | failed | timed_out,
        "status": the deployment's status as `status()` gives it, "rollout_s": seconds}.

        Without `details`, a rollout that completed is described by the Deployment alone
        (no pods, events or logs: nothing to look into); one that did not gets them all.
        """
        validate_name(namespace, "namespace")
        validate_name(name, "deployment")
        started = time.monotonic()
        rollout, dep = await self._wait_rollout(namespace, name, generation)
        if rollout == "complete" and not details:
            status = self._deployment_status(dep)
        else:
            status = await self._status_of(dep, log_lines=20)
        return {
            "rollout": rollout,
            "status": status,
            "rollout_s": round(time.monotonic() - started, 3),
        }

    def _stale(self, name: str, namespace: str) -> StalePlanError:
        return StalePlanError(
            f"deployment '{name}' in namespace '{namespace}' changed since the plan was "
            "approved; a new plan is needed",
            code=409,
        )

    async def _wait_rollout(self, namespace: str, name: str, generation: int) -> tuple[str, dict]:
        """Poll until the rollout of `generation` completes, fails or times out."""
        deadline = time.monotonic() + self.rollout_timeout
        while True:
            dep = await self._get_deployment(namespace, name)
            observed = (dep.get("status") or {}).get("observedGeneration") or 0
            complete, state = _rollout_state(dep)
            if observed >= generation and complete:
                return "complete", dep
            if observed >= generation and state == "failed":
                return "failed", dep
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timed_out", dep
            await asyncio.sleep(min(self.poll_interval, remaining))
