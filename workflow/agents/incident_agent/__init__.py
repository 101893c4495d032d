"""incident_agent: investigate an incident, say what changed, draft the postmortem.

node.py       the node: investigate / changes / postmortem
tools.py      documentation_search, web_search, kubernetes_query for a tool-calling model
vocabulary.py how incident_response / incident / debug requests are recognised

It only reads; its domain code (evidence, analysis, report) is in `workflow.incident`.
"""

from workflow.agents.incident_agent.vocabulary import VOCABULARY
from workflow.agents.spec import OPS, AgentSpec, TaskRoute, lazy

__all__ = ["NAME", "SPEC"]

NAME = "incident_agent"

SPEC = AgentSpec(
    name=NAME,
    supervisor=OPS,
    routes=(
        TaskRoute("incident_response", "Incident handling", row=15),
        TaskRoute("incident", "Incident handling", row=16),
        TaskRoute("debug", "Debugging", row=17),
    ),
    capability="incident investigation, change history and postmortem drafts",
    vocabulary=VOCABULARY,
    actions=("investigate", "changes", "postmortem"),
    backends={
        "docs": "runbook search is not available: set DEVOPS_BOT_RUNBOOKS to a folder of "
        "Markdown runbooks, or list runbook links in the service catalog",
    },
    node=lazy("workflow.agents.incident_agent.node:incident_agent"),
    tools=lazy("workflow.agents.incident_agent.tools:TOOLS"),
)
