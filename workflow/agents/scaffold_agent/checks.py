"""Every generated file checked by its authority before anyone sees it.

- Kubernetes manifests (any YAML document with `apiVersion` and `kind`): the Kubernetes API's
  own OpenAPI schemas (kubernetes-validate, strict: unknown fields are errors), and
  `metadata.name` a DNS-1123 name;
- Harness pipelines (`.harness/*.yaml`): the harness_expert's structural rules;
- Python files: they compile; TOML files: they parse;
- where a cluster is reachable, the manifests again as a server-side dry-run (`dryRun=All`).

A problem is `"<file>: <rule>: <message>"`; any problem refuses the plan.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import yaml

__all__ = ["DNS1123", "KUBERNETES_VERSION", "check_files", "dns1123_problem", "server_dry_run"]

KUBERNETES_VERSION = "1.30"
DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def dns1123_problem(name: str, what: str = "service name") -> str | None:
    if len(name) > 63 or not DNS1123.fullmatch(name):
        return (
            f"{what} {name!r} is not a DNS-1123 label (lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)"
        )
    return None


def check_files(files: dict[str, str]) -> tuple[list[str], list[str]]:
    """(problems, what checked each kind of file)."""
    problems: list[str] = []
    checked: set[str] = set()
    for path, text in files.items():
        if path.startswith(".harness/") and path.endswith((".yaml", ".yml")):
            from workflow.agents.harness_expert.rules import check_pipeline

            checked.add("Harness pipeline rules")
            problems += [f"{path}: harness {p.fqn}: {p.message}" for p in check_pipeline(text)]
        elif path.endswith((".yaml", ".yml")) and not path.startswith(".copier-answers"):
            problems += _check_yaml(path, text, checked)
        elif path.endswith(".py"):
            checked.add("Python compiles")
            try:
                compile(text, path, "exec")
            except SyntaxError as exc:
                problems.append(f"{path}: python syntax: line {exc.lineno}: {exc.msg}")
        elif path.endswith(".toml"):
            checked.add("TOML parses")
            try:
                tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                problems.append(f"{path}: toml: {exc}")
    return problems, sorted(checked)


def _check_yaml(path: str, text: str, checked: set[str]) -> list[str]:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        return [f"{path}: yaml: {exc}"]
    problems = []
    for doc in docs:
        if not (isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc):
            continue
        import kubernetes_validate

        checked.add(f"Kubernetes {KUBERNETES_VERSION} API schemas (strict)")
        kind = doc.get("kind")
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path) or "$"
            problems.append(f"{path}: kubernetes {kind} schema: {where}: {exc.message}")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError):
            problems.append(
                f"{path}: kubernetes schema: no schema for {doc.get('apiVersion')}/{kind} "
                f"in Kubernetes {KUBERNETES_VERSION}"
            )
        name = (doc.get("metadata") or {}).get("name")
        if isinstance(name, str) and (why := dns1123_problem(name, f"{kind} name")):
            problems.append(f"{path}: DNS-1123: {why}")
    return problems


# The kinds a plan is dry-run as on a cluster: those the shipped templates render. The bot's
# Role grants `create` on exactly these (deploy/base/rbac.yaml; tests/deploy/test_rbac.py
# reads this tuple); other kinds are checked against the schemas only, and the plan says so.
DRY_RUN_KINDS = ("Deployment", "Service")


async def server_dry_run(
    kubernetes: Any, files: dict[str, str], namespace: str
) -> tuple[list[str], list[str]]:
    """Each manifest created with `dryRun=All` on the cluster (nothing persists):
    (problems, notes). A kind the cluster does not serve, or a namespace it does not have, is
    a note, not a problem: the schema check above still holds."""
    from lightkube import ApiError, codecs

    problems: list[str] = []
    notes: list[str] = []
    for path, text in sorted(files.items()):
        if not path.endswith((".yaml", ".yml")) or path.startswith((".harness/", ".copier")):
            continue
        try:
            docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
        except yaml.YAMLError:
            continue
        for doc in docs:
            if "apiVersion" not in doc or "kind" not in doc:
                continue
            kind = doc["kind"]
            if kind not in DRY_RUN_KINDS:
                notes.append(
                    f"{path}: {kind} checked against the schemas only (the bot dry-runs "
                    f"{' and '.join(DRY_RUN_KINDS)} objects)"
                )
                continue
            try:
                obj = codecs.from_dict(doc)
                await kubernetes.client.create(obj, namespace=namespace, dry_run=True)
            except ApiError as exc:
                code, message = exc.status.code, exc.status.message or str(exc)
                if code in (403, 404, 409):  # forbidden here, no such kind or namespace, exists
                    notes.append(f"{path}: {kind} not dry-run on the cluster ({message})")
                else:
                    problems.append(f"{path}: server-side dry-run of {kind}: {message}")
            except Exception as exc:  # lightkube cannot load the kind, or the cluster is gone
                notes.append(f"{path}: {kind} not dry-run on the cluster ({exc})")
    return problems, notes
