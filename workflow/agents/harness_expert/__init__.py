"""harness_expert: CI/CD pipelines on Harness, and deploys that run through them.

client.py      the Harness NG API client (x-api-key, envelope, errors, retries), its
               settings (HARNESS_*) and the `connect` hook
authoring.py   pipeline YAML from a request and the catalog (design, render, read back)
editing.py     one change to an existing pipeline's YAML (approval, environment, strategy)
rules.py       the product's own structural checks of pipeline YAML
inputs.py      runtime inputs: `<+input>` fields, their template, filling it
answers.py     what fills them from a request (tag, environment refs, codebase build,
               `name=value` words) and the questions back when it cannot
node.py        the node: create / update (planned), deploy through a pipeline (planned),
               status, re-run, abort (planned)
applier.py     applies an approved `harness` plan
follow.py      follows a started execution to its end (the `rollout` node calls it)
ci.py          a pipeline's CI stages run alone and their test results (testing_agent's
               unit tests through the service's pipeline)
sandbox_api.py the sandbox's simulated Harness (deploys to the sandbox cluster)
sandbox.py     `devops-bot sandbox show|reset` for it
vocabulary.py  how pipeline requests are recognised, and the pipeline's shape read from them
"""

from workflow.agents.harness_expert.vocabulary import VOCABULARY
from workflow.agents.spec import INFRA, AgentSpec, TaskRoute, lazy

__all__ = ["NAME", "SPEC"]

NAME = "harness_expert"

SPEC = AgentSpec(
    name=NAME,
    supervisor=INFRA,
    routes=(
        TaskRoute("deploy", "CI/CD deployment", row=1, needs_harness_pipeline=True),
        TaskRoute("pipeline", "Pipeline creation", row=4),
    ),
    capability="Harness pipeline creation and deployment",
    vocabulary=VOCABULARY,
    actions=(
        "create",
        "update",
        "deploy",
        "status",
        "rerun",
        "abort",
        "create_pipeline",
        "update_pipeline",
        "rerun_pipeline",
        "abort_execution",
    ),
    writes=frozenset(
        {"deploy", "create_pipeline", "update_pipeline", "rerun_pipeline", "abort_execution"}
    ),
    backends={
        "harness": "Harness is not configured: set HARNESS_ACCOUNT_ID, HARNESS_ORG_ID, "
        "HARNESS_PROJECT_ID and HARNESS_API_KEY, or use --sandbox for the simulated Harness",
    },
    appliers={"harness": lazy("workflow.agents.harness_expert.applier:apply_harness")},
    followers={"harness": lazy("workflow.agents.harness_expert.follow:follow_execution")},
    node=lazy("workflow.agents.harness_expert.node:harness_expert"),
    sandbox=lazy("workflow.agents.harness_expert.sandbox:SANDBOX"),
    connect=lazy("workflow.agents.harness_expert.client:connect"),
    # the scaffold agent writes a new service's pipeline with these; testing_agent runs a
    # service's unit tests in its pipeline's CI stages with `ci` (its `name=value` inputs
    # read as `reading` reads a deploy's)
    public=("authoring", "editing", "rules", "ci", "reading"),
)
