"""Kubernetes backend on lightkube's AsyncClient: status, plans from server-side dry-run, apply.

A write goes through `plan()` first: it reads the object, computes the strategic-merge patch
(pinned to the `resourceVersion` it read), has the API server dry-run it and returns a
`Plan` with a before/after preview and a hash. `apply()` sends exactly that patch; if the
object changed in between, the API server answers 409 and the plan is refused as stale.

The package is split by concern: `errors`, `names` (argument checks), `shapes` (pure functions
over API objects), `client` (API calls with errors translated), `reads`, `planning`,
`applying` and `backend`, which puts them together.
"""

from __future__ import annotations

from workflow.tools.kubernetes.backend import KubernetesBackend
from workflow.tools.kubernetes.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    InvalidNameError,
    KubernetesError,
    NotFoundError,
    StalePlanError,
)
from workflow.tools.kubernetes.names import (
    MAX_REPLICAS,
    resolve_image,
    validate_image,
    validate_name,
    validate_replicas,
)
from workflow.tools.kubernetes.planning import PLAN_ACTIONS

__all__ = [
    "MAX_REPLICAS",
    "PLAN_ACTIONS",
    "AlreadyExistsError",
    "ConflictError",
    "InvalidInputError",
    "InvalidNameError",
    "KubernetesBackend",
    "KubernetesError",
    "NotFoundError",
    "StalePlanError",
    "resolve_image",
    "validate_image",
    "validate_name",
    "validate_replicas",
]
