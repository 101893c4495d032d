"""Pipeline authoring: from a classified request and the catalog to Harness v0 pipeline YAML.

Three steps, all pure (no I/O), so the node can preview exactly what it will send:

- `design_pipeline` turns the classifier's context (the keys `read_pipeline_request` sets and
  the shared ones) and the service's catalog entry into a `PipelineDesign`: which stages, in
  which order, with which strategy. It raises `DesignError` with a sentence the user can act
  on when the request cannot be built.
- `render_pipeline` writes the design as v0 YAML (`pipeline:` root) with Harness's own refs
  from the catalog's `harness:` settings, or conventional defaults listed in `design.notes`.
- `editing.edit_pipeline` applies one change (add or remove an approval, add an environment,
  change the deploy strategy) to an existing pipeline's YAML and says what changed.

Output is deterministic (same input, byte-identical YAML) so previews, diffs and the text
finally sent to Harness agree.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from workflow.catalog import ServiceEntry
from workflow.environments import CANONICAL_ENVIRONMENTS, canonical_environment

__all__ = [
    "DEFAULT_APPROVER_GROUP",
    "DEFAULT_GIT_CONNECTOR",
    "DEFAULT_REGISTRY_CONNECTOR",
    "STRATEGIES",
    "DesignError",
    "PipelineDesign",
    "design_pipeline",
    "dump_yaml",
    "environment_of_stage",
    "render_pipeline",
    "stages_of",
    "strategy_of_stage",
    "unified_diff",
]

STRATEGIES = ("rolling", "canary", "blue_green")
# Promotion order: a pipeline deploys to dev, then staging, then production.
PROMOTION_ORDER = ("dev", "staging", "production")
DEFAULT_ENVIRONMENTS = ("staging", "production")

DEFAULT_GIT_CONNECTOR = "account.github"
DEFAULT_REGISTRY_CONNECTOR = "account.docker_registry"
# Harness's built-in user group of every project member.
DEFAULT_APPROVER_GROUP = "_project_all_users"

_STRATEGY_WORDS = {"rolling": "rolling", "canary": "canary", "blue_green": "blue-green"}
_HARNESS_ID = re.compile(r"[A-Za-z_][0-9A-Za-z_]{0,127}")
_RUNTIME_ENVIRONMENT = re.compile(r"<\+pipeline\.variables\.([A-Za-z_][0-9A-Za-z_]*)>")
_ALLOWED_VALUES = re.compile(r"\.allowedValues\(([^)]*)\)")
_DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_REF = re.compile(r"(?:(?:account|org)\.)?[A-Za-z_][0-9A-Za-z_]{0,127}")
_PIPELINE_NAME = re.compile(r"[A-Za-z0-9_.-][-0-9A-Za-z_\s.]{0,127}")

_CI_STEPS = ("clone", "test", "build", "push")
_APPROVAL_TIMEOUT = "1d"
_STEP_TIMEOUT = "10m"

# Per language: the image a Run step tests in and the command it runs.
_TEST_COMMANDS: dict[str, tuple[str, str]] = {
    "python": ("python:3.12", "pip install -r requirements.txt\npytest"),
    "go": ("golang:1.22", "go test ./..."),
    "java": ("maven:3.9-eclipse-temurin-21", "mvn -B test"),
    "kotlin": ("gradle:8-jdk21", "gradle test"),
    "node": ("node:20", "npm ci\nnpm test"),
    "rust": ("rust:1", "cargo test"),
    "ruby": ("ruby:3.3", "bundle install\nbundle exec rake test"),
}
_LANGUAGE_ALIASES = {
    "python": "python",
    "py": "python",
    "go": "go",
    "golang": "go",
    "java": "java",
    "kotlin": "kotlin",
    "node": "node",
    "nodejs": "node",
    "node.js": "node",
    "javascript": "node",
    "js": "node",
    "typescript": "node",
    "ts": "node",
    "rust": "rust",
    "ruby": "ruby",
}

# Step types a deploy strategy is made of (replaced when the strategy changes).
_STRATEGY_STEP_TYPES = frozenset(
    {
        "K8sRollingDeploy",
        "K8sCanaryDeploy",
        "K8sCanaryDelete",
        "K8sBlueGreenDeploy",
        "K8sBGSwapServices",
        "K8sBlueGreenStageScaleDown",
    }
)
_ROLLBACK_STEP_TYPES = frozenset(
    {"K8sRollingRollback", "K8sCanaryDelete", "K8sBGSwapServices", "K8sBlueGreenStageScaleDown"}
)


class DesignError(ValueError):
    """A request that cannot become a pipeline; the message tells the user what to say."""


@dataclass(frozen=True)
class PipelineDesign:
    """What a new pipeline is made of, decided before any YAML is written.

    identifier/name     Harness identifier and display name of the pipeline
    service             catalog service name (DNS-1123)
    ci, run_tests       a CI stage (clone, build, push an image), with a test step or not
    environments        canonical environments deployed to, in order (empty: CI only)
    approval_before     environments whose deploy stage a HarnessApproval stage precedes
    strategy            "rolling" | "canary" | "blue_green"
    language            the service's language (chooses the test command), or None
    notes               conventions used where the catalog is silent, said in the preview
    """

    identifier: str
    name: str
    service: str
    ci: bool
    run_tests: bool
    environments: tuple[str, ...]
    approval_before: tuple[str, ...]
    strategy: str
    language: str | None
    notes: tuple[str, ...] = ()


# ------------------------------------------------------------------------------ design


def design_pipeline(context: dict, entry: ServiceEntry | None, service: str) -> PipelineDesign:
    """Decide a new pipeline's shape from the request's context and the catalog entry.

    With no shape words ("create a pipeline for ledger") the pipeline is what teams expect:
    CI with tests, a rolling deploy to the catalog's environments (else staging then
    production), and an approval before production.
    """
    service = _service_name(context, entry, service)
    ci_steps = context.get("ci_steps")
    ci_only = bool(context.get("ci_only"))
    ci = True if ci_steps is None else bool(ci_steps)
    run_tests = ci and (ci_steps is None or "test" in ci_steps)
    environments = () if ci_only else _environments(context, entry)
    if not ci and not environments:
        raise DesignError(
            f"A pipeline for {service} needs a build or at least one environment to deploy "
            f'to. Say for example: "create a pipeline for {service}: build, test, deploy to '
            'staging then production".'
        )
    strategy = _strategy(context.get("strategy"))
    approval_before = _approvals(context.get("approval_before"), environments, service)
    language = _language(context.get("language") or (entry.language if entry else None))
    identifier, name = _pipeline_names(context.get("pipeline_name"), service, ci, environments)
    design = PipelineDesign(
        identifier=identifier,
        name=name,
        service=service,
        ci=ci,
        run_tests=run_tests,
        environments=environments,
        approval_before=approval_before,
        strategy=strategy,
        language=language,
    )
    notes = tuple(_defaults_used(design, entry))
    return PipelineDesign(**{**design.__dict__, "notes": notes})


def _service_name(context: dict, entry: ServiceEntry | None, service: str | None) -> str:
    name = entry.name if entry is not None else (service or context.get("service"))
    if not name:
        raise DesignError(
            "Which service is the pipeline for? Name it, for example: "
            '"create a pipeline for ledger: build, test, deploy to staging then production".'
        )
    name = str(name).strip().lower()
    if len(name) > 63 or not _DNS1123.fullmatch(name):
        raise DesignError(
            f"{name!r} is not a service name (lowercase letters, digits and '-'). Name the "
            'service as the catalog does, for example: "create a pipeline for payment-service".'
        )
    return name


def _environments(context: dict, entry: ServiceEntry | None) -> tuple[str, ...]:
    asked = context.get("environments")
    if asked is None and context.get("environment"):
        asked = [context["environment"]]
    if asked is not None:
        return _canonical_list(asked)
    known: set[str] = set()
    if entry is not None and entry.harness is not None:
        known |= set(entry.harness.environments)
    if entry is not None and not known:
        known |= set(entry.namespaces)
    if known:
        return tuple(env for env in PROMOTION_ORDER if env in known)
    return DEFAULT_ENVIRONMENTS


def _canonical_list(values: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        env = canonical_environment(str(value))
        if env is None:
            raise DesignError(
                f"I don't know the environment {value!r}: use {', '.join(CANONICAL_ENVIRONMENTS)}"
                ' (or prod, stage, dev), for example "deploy to staging then production".'
            )
        if env not in out:
            out.append(env)
    return tuple(out)


def _strategy(value: Any) -> str:
    if value is None:
        return "rolling"
    key = str(value).strip().lower().replace("-", "_").replace("/", "_")
    key = {"bluegreen": "blue_green", "bg": "blue_green", "b_g": "blue_green"}.get(key, key)
    if key not in STRATEGIES:
        raise DesignError(
            f"I can deploy with a rolling, canary or blue-green strategy, not {value!r}. "
            'Say for example "use canary".'
        )
    return key


def _approvals(value: Any, environments: tuple[str, ...], service: str) -> tuple[str, ...]:
    if value is None:  # the default: production is approved by a person
        return ("production",) if "production" in environments else ()
    asked = _canonical_list(value)
    missing = [env for env in asked if env not in environments]
    if missing:
        env = missing[0]
        raise DesignError(
            f"You asked for an approval before {env}, but the pipeline for {service} doesn't "
            f'deploy to {env}. Say where it deploys, for example: "deploy {service} to '
            f'staging then {env} with an approval before {env}".'
        )
    return tuple(env for env in environments if env in asked)


def _language(value: Any) -> str | None:
    if not value:
        return None
    return str(value).strip().lower() or None


def _pipeline_names(
    asked: Any, service: str, ci: bool, environments: tuple[str, ...]
) -> tuple[str, str]:
    kind = "cicd" if ci and environments else "ci" if ci else "cd"
    label = {"cicd": "CI-CD", "ci": "CI", "cd": "CD"}[kind]
    if asked:
        asked = str(asked).strip()
        identifier = re.sub(r"[^0-9A-Za-z_]", "_", asked)
        if identifier[:1].isdigit():
            identifier = f"_{identifier}"
        if not _HARNESS_ID.fullmatch(identifier) or not _PIPELINE_NAME.fullmatch(asked):
            raise DesignError(
                f"{asked!r} can't name a Harness pipeline: use letters, digits, '_', '-' and "
                f"'.', at most 128 characters, for example \"pipeline name {service}_cicd\"."
            )
        return identifier, asked
    return f"{service.replace('-', '_')}_{kind}", f"{service} {label}"


def _defaults_used(design: PipelineDesign, entry: ServiceEntry | None) -> Iterator[str]:
    """One sentence per fact the catalog doesn't give and a convention fills in."""
    harness = entry.harness if entry is not None else None
    where = f"the catalog entry of {design.service}"
    if design.ci:
        if harness is None or harness.connector is None:
            yield (
                f"Git connector: {where} names none (harness.connector), so the CI stage "
                f"clones with {DEFAULT_GIT_CONNECTOR}."
            )
        if entry is None or entry.repository is None:
            yield (
                f"Repository: {where} names none (repository), so the CI stage clones "
                f"{design.service}."
            )
        if harness is None or harness.registry_connector is None:
            yield (
                f"Registry connector: {where} names none (harness.registry_connector), so the "
                f"image is pushed with {DEFAULT_REGISTRY_CONNECTOR}."
            )
        if entry is None or entry.image is None:
            yield f"Image: {where} names none (image), so the image is pushed as {design.service}."
        if design.run_tests and _language_key(design.language) is None:
            yield (
                f"Tests: {design.service}'s language is not known, so the test step runs "
                "`make test`."
            )
    if design.environments:
        if harness is None or harness.service is None:
            yield (
                f"Harness service: {where} names none (harness.service), so the deploy stages "
                f"use {_service_ref(design.service, entry)}."
            )
        for env in design.environments:
            if harness is None or env not in harness.environments:
                ref, infra = _environment_refs(env, entry)
                yield (
                    f"{env}: {where} has no Harness refs for it (harness.environments), so the "
                    f"stage deploys to environment {ref}, infrastructure {infra}."
                )
    if design.approval_before and (harness is None or not harness.approvers):
        yield (
            f"Approvers: {where} names none (harness.approvers), so any member of the project "
            f"({DEFAULT_APPROVER_GROUP}) can approve."
        )


# ------------------------------------------------------------------------------ render


def render_pipeline(
    design: PipelineDesign, entry: ServiceEntry | None, *, org: str, project: str
) -> str:
    """The design as Harness v0 pipeline YAML, deterministic (same input, same bytes)."""
    for what, value in (("organization", org), ("project", project)):
        if not isinstance(value, str) or not _HARNESS_ID.fullmatch(value):
            raise DesignError(
                f"The Harness {what} identifier {value!r} is not valid (letters, digits and "
                "'_', starting with a letter or '_'); set it in the Harness settings."
            )
    pipeline: dict[str, Any] = {
        "name": design.name,
        "identifier": design.identifier,
        "projectIdentifier": project,
        "orgIdentifier": org,
        "tags": {"managed_by": "devops-bot", "service": design.service},
    }
    if design.ci:
        pipeline["properties"] = {"ci": {"codebase": _codebase(design, entry)}}
    stages: list[dict[str, Any]] = []
    if design.ci:
        stages.append(_ci_stage(design, entry))
    for env in design.environments:
        if env in design.approval_before:
            stages.append(_approval_stage(env, design.service, entry, existing=()))
        stages.append(
            _deploy_stage(
                env, design.strategy, _service_ref(design.service, entry), entry, existing=()
            )
        )
    pipeline["stages"] = stages
    pipeline["variables"] = [
        {
            "name": "image_tag",
            "type": "String",
            "description": "The image tag to build and deploy",
            "required": True,
            "value": "<+input>",
        }
    ]
    return dump_yaml({"pipeline": pipeline})


def _codebase(design: PipelineDesign, entry: ServiceEntry | None) -> dict[str, Any]:
    harness = entry.harness if entry is not None else None
    return {
        "connectorRef": (harness.connector if harness and harness.connector else None)
        or DEFAULT_GIT_CONNECTOR,
        "repoName": _repo_name(entry.repository if entry else None, design.service),
        "build": "<+input>",
    }


def _repo_name(repository: str | None, service: str) -> str:
    if not repository:
        return service
    name = re.sub(r"^https://[^/]+/", "", repository)
    return name.removesuffix(".git")


def _ci_stage(design: PipelineDesign, entry: ServiceEntry | None) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    if design.run_tests:
        steps.append({"step": _test_step(design.language)})
    harness = entry.harness if entry is not None else None
    steps.append(
        {
            "step": {
                "type": "BuildAndPushDockerRegistry",
                "name": "Build and push image",
                "identifier": "build_and_push",
                "spec": {
                    "connectorRef": (harness.registry_connector if harness else None)
                    or DEFAULT_REGISTRY_CONNECTOR,
                    "repo": (entry.image if entry else None) or design.service,
                    "tags": ["<+pipeline.variables.image_tag>"],
                },
            }
        }
    )
    return {
        "stage": {
            "name": "Build",
            "identifier": "build",
            "type": "CI",
            "spec": {
                "cloneCodebase": True,
                "platform": {"os": "Linux", "arch": "Amd64"},
                "runtime": {"type": "Cloud", "spec": {}},
                "execution": {"steps": steps},
            },
        }
    }


def _language_key(language: str | None) -> str | None:
    return _LANGUAGE_ALIASES.get(language.lower()) if language else None


def _test_step(language: str | None) -> dict[str, Any]:
    key = _language_key(language)
    spec: dict[str, Any] = {"shell": "Sh"}
    if key is None:
        spec["command"] = "make test"
    else:
        image, command = _TEST_COMMANDS[key]
        spec = {"image": image, "shell": "Sh", "command": command}
    return {"type": "Run", "name": "Run tests", "identifier": "run_tests", "spec": spec}


def _service_ref(service: str, entry: ServiceEntry | None) -> str:
    if entry is not None and entry.harness is not None and entry.harness.service:
        return entry.harness.service
    return service.replace("-", "_")


def _environment_refs(env: str, entry: ServiceEntry | None) -> tuple[str, str]:
    if entry is not None and entry.harness is not None and env in entry.harness.environments:
        refs = entry.harness.environments[env]
        return refs.environment, refs.infrastructure
    return env, f"{env}_k8s"


def _approvers(entry: ServiceEntry | None) -> list[str]:
    if entry is not None and entry.harness is not None and entry.harness.approvers:
        return list(entry.harness.approvers)
    return [DEFAULT_APPROVER_GROUP]


def _unique(identifier: str, existing: Iterable[str]) -> str:
    taken = set(existing)
    if identifier not in taken:
        return identifier
    n = 2
    while f"{identifier}_{n}" in taken:
        n += 1
    return f"{identifier}_{n}"


def _approval_stage(
    env: str, service: str, entry: ServiceEntry | None, *, existing: Iterable[str]
) -> dict[str, Any]:
    return {
        "stage": {
            "name": f"Approve {env}",
            "identifier": _unique(f"approve_{env}", existing),
            "type": "Approval",
            "spec": {
                "execution": {
                    "steps": [
                        {
                            "step": {
                                "name": f"Approve {env} deploy",
                                "identifier": "approval",
                                "type": "HarnessApproval",
                                "timeout": _APPROVAL_TIMEOUT,
                                "spec": {
                                    "approvalMessage": (
                                        f"Approve deploying {service} "
                                        f"<+pipeline.variables.image_tag> to {env}"
                                    ),
                                    "includePipelineExecutionHistory": True,
                                    "approvers": {
                                        "userGroups": _approvers(entry),
                                        "minimumCount": 1,
                                        "disallowPipelineExecutor": False,
                                    },
                                    "approverInputs": [],
                                },
                            }
                        }
                    ]
                }
            },
            "failureStrategies": [
                {"onFailure": {"errors": ["AllErrors"], "action": {"type": "Abort"}}}
            ],
        }
    }


def _deploy_stage(
    env: str,
    strategy: str,
    service_ref: str,
    entry: ServiceEntry | None,
    *,
    existing: Iterable[str],
) -> dict[str, Any]:
    environment_ref, infrastructure = _environment_refs(env, entry)
    steps, rollback = _strategy_steps(strategy)
    return {
        "stage": {
            "name": f"Deploy to {env}",
            "identifier": _unique(f"deploy_{env}", existing),
            "type": "Deployment",
            "spec": {
                "deploymentType": "Kubernetes",
                "service": {"serviceRef": service_ref},
                "environment": {
                    "environmentRef": environment_ref,
                    "deployToAll": False,
                    "infrastructureDefinitions": [{"identifier": infrastructure}],
                },
                "execution": {"steps": steps, "rollbackSteps": rollback},
            },
            "failureStrategies": [
                {"onFailure": {"errors": ["AllErrors"], "action": {"type": "StageRollback"}}}
            ],
        }
    }


def _k8s_step(name: str, identifier: str, type_: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "step": {
            "name": name,
            "identifier": identifier,
            "type": type_,
            "timeout": _STEP_TIMEOUT,
            "spec": spec,
        }
    }


def _strategy_steps(strategy: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(execution steps, rollback steps) of a Kubernetes deploy with `strategy`."""
    if strategy == "canary":
        steps = [
            {
                "stepGroup": {
                    "name": "Canary deployment",
                    "identifier": "canary_deployment",
                    "steps": [
                        _k8s_step(
                            "Canary deploy",
                            "canary_deploy",
                            "K8sCanaryDeploy",
                            {
                                "instanceSelection": {"type": "Count", "spec": {"count": 1}},
                                "skipDryRun": False,
                            },
                        ),
                        _k8s_step("Canary delete", "canary_delete", "K8sCanaryDelete", {}),
                    ],
                }
            },
            {
                "stepGroup": {
                    "name": "Primary deployment",
                    "identifier": "primary_deployment",
                    "steps": [
                        _k8s_step(
                            "Rolling deploy",
                            "rolling_deploy",
                            "K8sRollingDeploy",
                            {"skipDryRun": False, "pruningEnabled": False},
                        )
                    ],
                }
            },
        ]
        rollback = [
            _k8s_step("Canary delete", "rollback_canary_delete", "K8sCanaryDelete", {}),
            _k8s_step(
                "Rolling rollback",
                "rolling_rollback",
                "K8sRollingRollback",
                {"pruningEnabled": False},
            ),
        ]
        return steps, rollback
    if strategy == "blue_green":
        steps = [
            _k8s_step(
                "Blue-green deploy",
                "blue_green_deploy",
                "K8sBlueGreenDeploy",
                {"skipDryRun": False, "pruningEnabled": False},
            ),
            _k8s_step("Swap services", "swap_services", "K8sBGSwapServices", {"skipDryRun": False}),
        ]
        rollback = [
            _k8s_step(
                "Swap services back",
                "rollback_swap_services",
                "K8sBGSwapServices",
                {"skipDryRun": False},
            )
        ]
        return steps, rollback
    steps = [
        _k8s_step(
            "Rolling deploy",
            "rolling_deploy",
            "K8sRollingDeploy",
            {"skipDryRun": False, "pruningEnabled": False},
        )
    ]
    rollback = [
        _k8s_step(
            "Rolling rollback", "rolling_rollback", "K8sRollingRollback", {"pruningEnabled": False}
        )
    ]
    return steps, rollback


# --------------------------------------------------------------------------- YAML I/O


class _Dumper(yaml.SafeDumper):
    """Harness's layout: list items indented under their key."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str_presenter)


def dump_yaml(data: Any) -> str:
    """YAML as this module writes it: keys in order, Harness-style indentation, no wrapping."""
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096, indent=2
    )


def _load_pipeline(yaml_text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(yaml_text)
    except yaml.YAMLError as exc:
        raise DesignError(f"The pipeline's YAML does not parse: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("pipeline"), dict):
        raise DesignError("The pipeline's YAML has no `pipeline:` mapping at its top.")
    stages = data["pipeline"].get("stages")
    if stages is None:
        data["pipeline"]["stages"] = []
    elif not isinstance(stages, list):
        raise DesignError("The pipeline's `stages` is not a list.")
    return data


# -------------------------------------------------------------------------- read back


def _stage_nodes(stages: list[Any]) -> Iterator[dict[str, Any]]:
    for item in stages:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("stage"), dict):
            yield item["stage"]
        for sub in item.get("parallel") or ():
            if isinstance(sub, dict) and isinstance(sub.get("stage"), dict):
                yield sub["stage"]


def _environment_ref(stage: dict[str, Any]) -> str | None:
    spec = stage.get("spec") if isinstance(stage.get("spec"), dict) else {}
    environment = spec.get("environment")
    if isinstance(environment, dict) and isinstance(environment.get("environmentRef"), str):
        return environment["environmentRef"]
    return None


def stages_of(yaml_text: str) -> list[dict]:
    """The pipeline's stages in order (parallel ones flattened), for previews:
    `{"identifier", "name", "type", "environment"}` (environment: the environmentRef, or None).
    """
    data = _load_pipeline(yaml_text)
    return [
        {
            "identifier": stage.get("identifier"),
            "name": stage.get("name"),
            "type": stage.get("type"),
            "environment": _environment_ref(stage),
        }
        for stage in _stage_nodes(data["pipeline"]["stages"])
    ]


def environment_of_stage(stage: dict[str, Any], entry: ServiceEntry | None) -> str | None:
    """The canonical environment a stage deploys to: its environmentRef mapped through the
    catalog's Harness refs, or read from the ref itself ("prod", "org.production",
    "production_env"), or from the stage's name and identifier ("Deploy to prod")."""
    ref = _environment_ref(stage)
    if ref is not None:
        bare = ref.split(".", 1)[1] if ref.startswith(("account.", "org.")) else ref
        if entry is not None and entry.harness is not None:
            for env, refs in entry.harness.environments.items():
                if refs.environment in (ref, bare):
                    return env
        found = _environment_in_words(bare)
        if found:
            return found
    for text in (stage.get("identifier"), stage.get("name")):
        if isinstance(text, str):
            found = _environment_in_words(text)
            if found:
                return found
    return None


def _environment_in_words(text: str) -> str | None:
    whole = canonical_environment(text)
    if whole:
        return whole
    for word in re.split(r"[^0-9A-Za-z]+|(?<=[a-z])(?=[A-Z])", text):
        env = canonical_environment(word)
        if env:
            return env
    return None


def _step_types(steps: Any) -> Iterator[str]:
    for item in steps or ():
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("step"), dict):
            yield str(item["step"].get("type"))
        if isinstance(item.get("stepGroup"), dict):
            yield from _step_types(item["stepGroup"].get("steps"))
        if isinstance(item.get("parallel"), list):
            yield from _step_types(item["parallel"])


def strategy_of_stage(stage: dict[str, Any]) -> str | None:
    """The deploy strategy a Deployment stage's steps implement, or None if not recognised."""
    spec = stage.get("spec") if isinstance(stage.get("spec"), dict) else {}
    execution = spec.get("execution") if isinstance(spec.get("execution"), dict) else {}
    types = set(_step_types(execution.get("steps")))
    if "K8sCanaryDeploy" in types:
        return "canary"
    if "K8sBlueGreenDeploy" in types:
        return "blue_green"
    if "K8sRollingDeploy" in types:
        return "rolling"
    return None


# ------------------------------------------------------------------------------- diff


def unified_diff(old: str, new: str, path: str) -> str:
    """A unified diff of two YAML texts with git-style a/ and b/ headers."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )
