"""The API calls every part of the backend makes, with lightkube's errors translated."""

from __future__ import annotations

from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError, ConfigError
from lightkube.resources.apps_v1 import Deployment, ReplicaSet
from lightkube.resources.core_v1 import Namespace

from workflow.tools.kubernetes.errors import (
    AlreadyExistsError,
    ConflictError,
    KubernetesError,
    NotFoundError,
)
from workflow.tools.kubernetes.shapes import _revision

# lightkube's ApiError derives from the HTTP library's HTTPStatusError (httpx or httpx2
# depending on the lightkube version); find that library's base error class from it.
_HTTPError: type[Exception] = next(
    (c for c in ApiError.__mro__ if c.__name__ == "HTTPError"), Exception
)


class _ApiCalls:
    """Reads through the client; failures become KubernetesError with a readable message."""

    # Set by KubernetesBackend.__init__.
    client: AsyncClient
    cluster_label: str
    backend_name: str
    rollout_timeout: float
    poll_interval: float

    def _translate(
        self, exc: Exception, kind: str, name: str, namespace: str | None
    ) -> KubernetesError:
        where = f" in namespace '{namespace}'" if namespace and kind != "namespace" else ""
        if isinstance(exc, ApiError):
            status = exc.status
            response = getattr(exc, "response", None)
            code = status.code or (response.status_code if response is not None else None)
            details = status.details
            message = status.message or ""
            if code == 404:
                if kind != "namespace" and details is not None and details.kind == "namespaces":
                    return NotFoundError(f"namespace '{namespace}' not found", code=404)
                return NotFoundError(f"{kind} '{name}' not found{where}", code=404)
            if code == 409 and status.reason == "AlreadyExists":
                return AlreadyExistsError(f"{kind} '{name}' already exists{where}", code=409)
            if code == 409:
                return ConflictError(
                    f"{kind} '{name}'{where} was changed by someone else meanwhile", code=409
                )
            if code == 422:
                return KubernetesError(
                    f"the API server rejected the change to {kind} '{name}'{where}: {message}",
                    code=422,
                )
            if code == 401:
                return KubernetesError(
                    f"not authenticated to the Kubernetes API ({self.cluster_label}): check "
                    "the credentials in the kube configuration",
                    code=401,
                )
            if code == 403:
                return KubernetesError(f"not allowed: {message}", code=403)
            return KubernetesError(
                f"Kubernetes API error {code} ({status.reason}) for {kind} '{name}'{where}: "
                f"{message}",
                code=code,
            )
        response = getattr(exc, "response", None)
        if response is not None:
            return KubernetesError(
                f"Kubernetes API returned HTTP {response.status_code} for {kind} '{name}'{where}",
                code=response.status_code,
            )
        return KubernetesError(
            f"cannot reach the Kubernetes API ({self.cluster_label}): {type(exc).__name__}"
        )

    async def _call(self, coro: Any, kind: str, name: str, namespace: str | None) -> Any:
        try:
            return await coro
        except (_HTTPError, ConfigError) as exc:
            if isinstance(exc, ConfigError):
                raise KubernetesError(f"Kubernetes configuration error: {exc}") from exc
            raise self._translate(exc, kind, name, namespace) from exc

    async def _list(
        self,
        res: Any,
        namespace: str,
        *,
        labels: dict[str, str] | None = None,
        fields: dict[str, str] | None = None,
    ) -> list[dict]:
        kind = res.__name__.lower()
        try:
            return [
                obj.to_dict()
                async for obj in self.client.list(
                    res, namespace=namespace, labels=labels, fields=fields
                )
            ]
        except (_HTTPError, ConfigError) as exc:
            if isinstance(exc, ConfigError):
                raise KubernetesError(f"Kubernetes configuration error: {exc}") from exc
            raise self._translate(exc, f"{kind} list", namespace, namespace) from exc

    async def _get_deployment(self, namespace: str, name: str) -> dict:
        try:
            obj = await self._call(
                self.client.get(Deployment, name, namespace=namespace),
                "deployment",
                name,
                namespace,
            )
        except NotFoundError:
            await self._require_namespace(namespace)
            raise
        return obj.to_dict()

    async def _require_namespace(self, namespace: str) -> None:
        """NotFoundError naming the namespace when it is missing.

        The API answers reads in a missing namespace like reads of missing objects (and
        lists as empty), which would send people looking for the wrong typo.
        """
        try:
            await self.client.get(Namespace, namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                raise NotFoundError(f"namespace '{namespace}' not found", code=404) from None
            # e.g. 403: no permission to read namespaces; the caller's answer stands.
        except _HTTPError:
            pass

    async def _owned_replicasets(self, dep: dict) -> list[dict]:
        meta = dep["metadata"]
        selector = (dep.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
        items = await self._list(ReplicaSet, meta["namespace"], labels=selector or None)
        owned = [
            rs
            for rs in items
            if any(
                ref.get("uid") == meta.get("uid") and ref.get("controller")
                for ref in rs.get("metadata", {}).get("ownerReferences") or []
            )
        ]
        return sorted(owned, key=_revision)
