"""kubernetes_agent: reads cluster state and plans writes on a real Kubernetes API.

node.py       the node: status reads, planned writes (server-side dry-run + plan hash)
applier.py    applies an approved `kubernetes` plan
sandbox.py    `devops-bot sandbox show|reset` for the built-in sandbox cluster
vocabulary.py how deploy / kubernetes / provision requests are recognised

Its domain code (the Kubernetes client) is shared and stays in `workflow.tools.kubernetes`.
"""

from workflow.agents.kubernetes_agent.vocabulary import VOCABULARY
from workflow.agents.spec import INFRA, AgentSpec, TaskRoute, lazy

__all__ = ["NAME", "SPEC"]

NAME = "kubernetes_agent"

SPEC = AgentSpec(
    name=NAME,
    supervisor=INFRA,
    routes=(
        TaskRoute("provision", "K8s provisioning", row=2),
        TaskRoute("kubernetes", "K8s operations", row=5),
        # deploy without a Harness pipeline for the service (the seed's Example 1)
        TaskRoute("deploy", "Kubernetes deployment", row=1, fallback=True),
    ),
    capability="Kubernetes deployments, scaling, restarts, rollbacks, namespaces and status",
    vocabulary=VOCABULARY,
    actions=(
        "deploy",
        "scale",
        "restart",
        "rollback",
        "delete",
        "destroy",
        "provision",
        "status",
        "logs",
    ),
    writes=frozenset({"deploy", "scale", "restart", "rollback", "delete", "destroy", "provision"}),
    backends={
        "kubernetes": "no Kubernetes cluster is configured: set KUBECONFIG (or run in-cluster), "
        "or use --sandbox for the built-in sandbox cluster",
    },
    appliers={"kubernetes": lazy("workflow.agents.kubernetes_agent.applier:apply_kubernetes")},
    node=lazy("workflow.agents.kubernetes_agent.node:kubernetes_agent"),
    sandbox=lazy("workflow.agents.kubernetes_agent.sandbox:SANDBOX"),
)
