"""scaffold_agent: new services from copier templates, parts added to repositories, as
repositories and pull requests (Backstage's scaffolder, from Slack, with a plan first).

templates.py   the shipped copier templates (templates/) and DEVOPS_BOT_TEMPLATES's
checks.py      every generated file checked by its authority (Kubernetes schemas, Harness
               rules, DNS-1123 names, Python/TOML syntax)
client.py      the forge settings (DEVOPS_BOT_FORGE*) and the `connect` hook
node.py        the node: list templates, plan a new service, plan parts for a repository
applier.py     applies an approved `forge` plan (workflow.tools.changes) and registers the
               new service in the catalog
sandbox.py     `devops-bot sandbox show|reset` for the sandbox forge
vocabulary.py  how scaffold requests are recognised and what is read from them
"""

from workflow.agents.scaffold_agent.vocabulary import VOCABULARY
from workflow.agents.spec import INFRA, AgentSpec, TaskRoute, lazy

__all__ = ["NAME", "SPEC"]

NAME = "scaffold_agent"

SPEC = AgentSpec(
    name=NAME,
    supervisor=INFRA,
    routes=(TaskRoute("scaffold", "Project setup", row=3),),
    capability="project scaffolding",
    vocabulary=VOCABULARY,
    actions=(
        "create",
        "add",
        "templates",
        "update",
        "behind",
        "create_repository",
        "open_pull_request",
    ),
    writes=frozenset({"create_repository", "open_pull_request"}),
    backends={
        "forge": "no forge is configured: set DEVOPS_BOT_FORGE=github or gitlab, "
        "DEVOPS_BOT_FORGE_ORG and DEVOPS_BOT_FORGE_TOKEN, or use --sandbox for the sandbox forge",
    },
    appliers={"forge": lazy("workflow.agents.scaffold_agent.applier:apply_forge")},
    node=lazy("workflow.agents.scaffold_agent.node:scaffold_agent"),
    sandbox=lazy("workflow.agents.scaffold_agent.sandbox:SANDBOX"),
    connect=lazy("workflow.agents.scaffold_agent.client:connect"),
)
