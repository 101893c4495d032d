"""Kubernetes RBAC, as the API server applies it, for the sandbox API server in the tests.

`Authorizer` reads the RBAC objects of a rendered deploy/ (ClusterRoles, Roles, their
bindings to one ServiceAccount) and answers whether a request (method, path, query) is
allowed. `RbacKubeApiServer` is the sandbox Kubernetes API server answering 403 Forbidden,
as a real one would, to every request the bot's ServiceAccount may not make.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from workflow.sandbox.kube.errors import _ApiError
from workflow.sandbox.kube_api import KubeApiServer

__all__ = ["Access", "Authorizer", "RbacKubeApiServer", "access_of"]

NON_RESOURCE = {"/version", "/healthz", "/readyz", "/livez", "/api", "/apis"}


@dataclass(frozen=True)
class Access:
    """One request in RBAC's terms: verb on group/resource[/subresource] in a namespace."""

    verb: str
    group: str
    resource: str  # "pods" or "pods/log"
    namespace: str  # "" for cluster-scoped objects and requests across all namespaces


def access_of(method: str, path: str, query: str = "") -> Access | None:
    """The RBAC access a REST request needs, or None for a non-resource URL."""
    if path.rstrip("/") in NON_RESOURCE:
        return None
    parts = [p for p in path.split("/") if p]
    if parts[0] == "api":  # /api/v1/...
        group, rest = "", parts[2:]
    elif parts[0] == "apis":  # /apis/{group}/{version}/...
        group, rest = parts[1], parts[3:]
    else:
        raise ValueError(f"not a Kubernetes API path: {path}")
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    resource, name, sub = rest[0], rest[1] if len(rest) > 1 else None, rest[2:]
    if sub:
        resource = f"{resource}/{sub[0]}"
    watch = parse_qs(query).get("watch", [""])[0] in ("true", "1")
    verb = {
        "GET": "watch" if watch else ("get" if name else "list"),
        "HEAD": "get" if name else "list",
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if name else "deletecollection",
    }[method]
    if resource == "namespaces" and name:  # a namespace is itself cluster-scoped
        namespace = ""
    return Access(verb, group, resource, namespace)


class Authorizer:
    """RBAC for one ServiceAccount from a list of rendered Kubernetes objects."""

    def __init__(self, objects: list[dict[str, Any]], *, account: str, namespace: str) -> None:
        roles: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for obj in objects:
            if obj["kind"] == "ClusterRole":
                roles[("", obj["metadata"]["name"])] = obj.get("rules") or []
            elif obj["kind"] == "Role":
                roles[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj["rules"]
        # (namespace or "" for everywhere, rules)
        self.grants: list[tuple[str, list[dict[str, Any]]]] = []
        for obj in objects:
            if obj["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
                continue
            if not any(
                s.get("kind") == "ServiceAccount"
                and s.get("name") == account
                and s.get("namespace") == namespace
                for s in obj.get("subjects") or []
            ):
                continue
            ref = obj["roleRef"]
            scope = obj["metadata"].get("namespace", "") if obj["kind"] == "RoleBinding" else ""
            role_ns = scope if ref["kind"] == "Role" else ""
            self.grants.append((scope, roles.get((role_ns, ref["name"]), [])))

    def allows(self, access: Access | None) -> bool:
        if access is None:
            return True  # non-resource URLs: system:discovery / system:public-info-viewer
        for scope, rules in self.grants:
            if scope and scope != access.namespace:
                continue
            for rule in rules:
                if (
                    access.group in rule.get("apiGroups", [])
                    and access.resource in rule.get("resources", [])
                    and access.verb in rule.get("verbs", [])
                    and not rule.get("resourceNames")
                ):
                    return True
        return False

    def granted(self) -> set[tuple[str, str, str]]:
        """Every (verb, group, resource) some rule grants."""
        return {
            (verb, group, resource)
            for _, rules in self.grants
            for rule in rules
            for verb in rule["verbs"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
        }


class RbacKubeApiServer(KubeApiServer):
    """The sandbox API server, answering 403 to what `authorizer` does not allow."""

    def __init__(self, authorizer: Authorizer, **kw: Any) -> None:
        super().__init__(**kw)
        self.authorizer = authorizer
        self.accesses: list[Access] = []
        self.forbidden: list[Access] = []

    def _make_app(self) -> web.Application:
        app = super()._make_app()

        @web.middleware
        async def authorize(request: web.Request, handler: Any) -> web.StreamResponse:
            access = access_of(request.method, request.path, request.query_string)
            if access is not None:
                self.accesses.append(access)
            if not self.authorizer.allows(access):
                self.forbidden.append(access)  # type: ignore[arg-type]
                assert access is not None
                where = f' in the namespace "{access.namespace}"' if access.namespace else ""
                scope = "" if access.namespace else " at the cluster scope"
                raise _ApiError(
                    403,
                    "Forbidden",
                    f'{access.resource} is forbidden: User "system:serviceaccount:devops-bot:'
                    f'devops-bot" cannot {access.verb} resource "{access.resource}" in API '
                    f'group "{access.group}"{where}{scope}',
                )
            return await handler(request)

        # Inside the recording middleware, which turns _ApiError into a Status response.
        app.middlewares.append(authorize)
        return app
