"""monitoring_agent: metrics, logs and alerts, answered from the backends' own numbers.

node.py       the node: one handler per action (metrics, logs, alerts, health, silences)
applier.py    applies an approved `alertmanager` plan (a silence, or its expiry)
tools.py      metrics_query, log_search, alert_manager for a tool-calling model
vocabulary.py how monitor / metrics / logs / alert requests are recognised, and the metrics

Its domain code (Prometheus, Alertmanager and log clients) is shared with the incident agent
and stays in `workflow.tools`.
"""

from workflow.agents.monitoring_agent.vocabulary import VOCABULARY
from workflow.agents.spec import OPS, AgentSpec, TaskRoute, lazy

__all__ = ["NAME", "SPEC"]

NAME = "monitoring_agent"

SPEC = AgentSpec(
    name=NAME,
    supervisor=OPS,
    routes=(
        TaskRoute("monitor", "Metrics/logs", row=11),
        TaskRoute("metrics", "Metrics analysis", row=12),
        TaskRoute("logs", "Log analysis", row=13),
        TaskRoute("alert", "Alert management", row=14),
    ),
    capability="metrics, logs, alerts and service health; silences planned for approval",
    vocabulary=VOCABULARY,
    actions=("metrics", "logs", "alerts", "health", "silence", "expire_silence"),
    writes=frozenset({"silence", "expire_silence"}),
    backends={
        "prometheus": "metrics are not available: PROMETHEUS_URL is not set (e.g. "
        "http://prometheus:9090), or use --sandbox",
        "alertmanager": "alerts are not available: ALERTMANAGER_URL is not set (e.g. "
        "http://alertmanager:9093), or use --sandbox",
        "logs": "logs are not available: set LOKI_URL, or KUBECONFIG for pod logs, or use "
        "--sandbox",
    },
    appliers={"alertmanager": lazy("workflow.agents.monitoring_agent.applier:apply_alertmanager")},
    node=lazy("workflow.agents.monitoring_agent.node:monitoring_agent"),
    tools=lazy("workflow.agents.monitoring_agent.tools:TOOLS"),
    sandbox=lazy("workflow.agents.monitoring_agent.sandbox:SANDBOX"),
)
