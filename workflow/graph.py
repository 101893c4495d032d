"""`create_devops_workflow()`: the supervisor graph, compiled.

START [-> intake] -> devops_root_supervisor -> {infrastructure,development,operations}_supervisor
-> one of the registry's agents -> reflection -> (retry: back to the agent's supervisor)
| human_approval -> apply | apply | END; apply -> rollout (a Deployment change) | END.
Supervisors, reflection, the gate and apply move on with `Command(goto=...)`;
`destinations` makes those edges visible in the drawing.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from workflow.agents.registry import REGISTRY
from workflow.apply import apply
from workflow.approval.gate import human_approval
from workflow.deps import WorkflowDeps
from workflow.intake import DESTINATIONS as INTAKE_DESTINATIONS
from workflow.intake import NODE as INTAKE
from workflow.intake import intake as intake_node
from workflow.reflection import reflection
from workflow.rollout import rollout
from workflow.routing import AGENT_SUPERVISOR, SUPERVISOR_AGENTS
from workflow.state import DevOpsAgentState
from workflow.supervisors import ROOT, devops_root_supervisor, domain_supervisor

__all__ = ["AGENTS", "RECURSION_LIMIT", "create_devops_workflow"]

AGENTS = {spec.name: spec.make_node() for spec in REGISTRY}

# Root + supervisor + (agent + reflection) * (1 + retries) + gate loops + apply: well below.
RECURSION_LIMIT = 40


def create_devops_workflow(
    checkpointer: Checkpointer = None,
    *,
    name: str = "devops-bot",
    intake: bool = False,
    context_schema: type[WorkflowDeps] = WorkflowDeps,
) -> CompiledStateGraph:
    """Build and compile the graph. Pass deps per run as `context=WorkflowDeps(...)`.

    `intake`: start with `workflow.intake` (a request sent as a chat message, as LangGraph
    Studio sends it). `context_schema`: what a context dict is made into (`bot.studio`).
    """
    graph: StateGraph[Any] = StateGraph(DevOpsAgentState, context_schema=context_schema)
    if intake:
        graph.add_node(INTAKE, intake_node, destinations=INTAKE_DESTINATIONS)
        graph.add_edge(START, INTAKE)
    else:
        graph.add_edge(START, ROOT)
    graph.add_node(ROOT, devops_root_supervisor, destinations=(*SUPERVISOR_AGENTS, END))
    for supervisor, agents in SUPERVISOR_AGENTS.items():
        graph.add_node(supervisor, domain_supervisor(supervisor), destinations=agents)
    for agent, node in AGENTS.items():
        graph.add_node(agent, node)
        graph.add_edge(agent, "reflection")
    graph.add_node(
        "reflection",
        reflection,
        destinations=(*SUPERVISOR_AGENTS, "human_approval", "apply", END),
    )
    graph.add_node("human_approval", human_approval, destinations=("human_approval", "apply", END))
    graph.add_node("apply", apply, destinations=("rollout", END))
    graph.add_node("rollout", rollout)
    graph.add_edge("rollout", END)
    assert set(AGENT_SUPERVISOR) == set(AGENTS)
    return graph.compile(checkpointer=checkpointer, name=name)
