"""The graph's routing, reflection and retries, driven through the compiled graph."""

from __future__ import annotations

from datetime import datetime

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from workflow.approval.policy import ApprovalPolicy
from workflow.catalog import ServiceCatalog
from workflow.deps import WorkflowDeps
from workflow.graph import RECURSION_LIMIT, create_devops_workflow
from workflow.memory import MemoryBus, Namespace
from workflow.reflection import evaluate
from workflow.routing import ROUTING_TABLE, TaskType, route_for
from workflow.sandbox.kube_api import KubeApiServer
from workflow.state import initial_state
from workflow.tools.kubernetes import KubernetesBackend

# The seed's "Task Type Routing Reference", verbatim (deploy: see the Harness rule).
SEED_TABLE = """
deploy infrastructure_supervisor harness_expert
provision infrastructure_supervisor kubernetes_agent
scaffold infrastructure_supervisor scaffold_agent
pipeline infrastructure_supervisor harness_expert
kubernetes infrastructure_supervisor kubernetes_agent
codegen development_supervisor codegen_agent
database development_supervisor database_agent
schema development_supervisor database_agent
migration development_supervisor database_agent
test development_supervisor testing_agent
monitor operations_supervisor monitoring_agent
metrics operations_supervisor monitoring_agent
logs operations_supervisor monitoring_agent
alert operations_supervisor monitoring_agent
incident_response operations_supervisor incident_agent
incident operations_supervisor incident_agent
debug operations_supervisor incident_agent
"""
ROWS = [tuple(line.split()) for line in SEED_TABLE.strip().splitlines()]
CATALOG = ServiceCatalog.from_dict(
    {"services": {"api-server": {"harness_pipeline": "api_server_deploy"}, "web": {}}}
)


@pytest.fixture(scope="module")
def cluster():
    with KubeApiServer(rollout_seconds=0.05) as server:
        yield server


@pytest.fixture
async def deps(cluster):
    backend = KubernetesBackend.from_url(cluster.url, rollout_timeout=5, poll_interval=0.05)
    yield WorkflowDeps(
        memory=MemoryBus.in_memory(),
        policy=ApprovalPolicy.builtin(),
        catalog=CATALOG,
        kubernetes=backend,
    )
    await backend.aclose()


async def run(deps, task_type, context, thread="t1"):
    graph = create_devops_workflow(InMemorySaver())
    config = {"configurable": {"thread_id": thread}, "recursion_limit": RECURSION_LIMIT}
    seen = []
    async for chunk in graph.astream(
        initial_state(task_type, context, f"{task_type} request"),
        config,
        context=deps,
        stream_mode="updates",
    ):
        seen.extend(chunk)
    return seen, (await graph.aget_state(config))


def test_table_matches_the_seed_row_for_row():
    assert len(ROWS) == 17 == len(ROUTING_TABLE)
    for task_type, supervisor, agent in ROWS:
        route = ROUTING_TABLE[TaskType(task_type)]
        assert (route.supervisor, route.agent) == (supervisor, agent)


@pytest.mark.parametrize(("task_type", "supervisor", "agent"), ROWS)
async def test_graph_routes_every_task_type_as_the_seed_says(deps, task_type, supervisor, agent):
    # "web" has no Harness pipeline, "api-server" has one: deploy takes both branches.
    service = "api-server" if task_type == "deploy" else "web"
    seen, state = await run(deps, task_type, {"service": service, "environment": "staging"})
    assert seen[:3] == ["devops_root_supervisor", supervisor, agent]
    assert state.values["supervisor_path"][:2] == ["devops_root_supervisor", supervisor]
    trace = state.values["routing_trace"]
    assert trace[0]["target"] == supervisor and trace[1]["target"] == agent
    assert all(step["reason"] for step in trace)
    assert seen[3] == "reflection"


async def test_deploy_without_harness_pipeline_goes_to_kubernetes_agent(deps):
    assert route_for("deploy", harness_pipeline=None).agent == "kubernetes_agent"
    seen, state = await run(
        deps, "deploy", {"service": "web", "environment": "production", "image": "web:v9"}
    )
    assert seen[:3] == ["devops_root_supervisor", "infrastructure_supervisor", "kubernetes_agent"]
    assert "no Harness pipeline" in state.values["routing_trace"][1]["reason"]
    assert state.interrupts, "a production deploy pauses for approval"


async def test_failed_harness_deploy_retries_on_kubernetes_agent(deps):
    """harness_expert is not built yet: reflection sends the deploy back and the
    supervisor picks the alternative agent, which plans it for real."""
    seen, state = await run(
        deps,
        "deploy",
        {"service": "api-server", "environment": "production", "image": "api-server:v1.2.3"},
    )
    assert seen[:6] == [
        "devops_root_supervisor",
        "infrastructure_supervisor",
        "harness_expert",
        "reflection",
        "infrastructure_supervisor",
        "kubernetes_agent",
    ]
    values = state.values
    assert values["failure_history"][0]["agent"] == "harness_expert"
    assert values["remediation_tasks"][0]["action"] == "review_and_retry"
    assert values["reflection_outcomes"]["harness_expert"]["quality"] == "low"
    assert "execution_failed" in values["reflection_outcomes"]["harness_expert"]["risks"]
    assert values["reflection_outcomes"]["kubernetes_agent"]["quality"] == "high"
    assert values["context_signals"]["needs_approval"] is True
    assert "retry" in values["routing_trace"][-1]["reason"]
    assert state.interrupts[0].value["action"] == "deploy"


async def test_unavailable_agent_is_reported_truthfully_without_retry(deps, monkeypatch):
    """Every agent is built now; an agent package whose SPEC has no node yet (how a new agent
    starts) must still fail truthfully, so one is declared unbuilt here."""
    import dataclasses

    import workflow.graph
    from workflow.agents.registry import spec_for

    spec = dataclasses.replace(spec_for("testing_agent"), node=None)
    assert not spec.built
    monkeypatch.setitem(workflow.graph.AGENTS, spec.name, spec.make_node())
    seen, state = await run(deps, spec.task_types[0], {"service": "web"})
    assert seen == ["devops_root_supervisor", spec.supervisor, spec.name, "reflection"]
    outcome = state.values["outcome"]
    assert outcome["status"] == "failed"
    assert f"{spec.name} is not available yet" in outcome["summary"]
    assert state.values["subagent_results"][spec.name]["status"] == "unavailable"


async def test_status_read_completes_with_infrastructure_state(deps):
    _, state = await run(
        deps, "kubernetes", {"action": "status", "service": "api-server", "environment": "dev"}
    )
    assert state.values["outcome"]["status"] == "done"
    assert "dev/api-server" in state.values["infrastructure_state"]
    assert not state.interrupts


async def test_missing_deployment_fails_with_clear_message(deps):
    _, state = await run(
        deps, "kubernetes", {"action": "restart", "service": "nosuch", "environment": "dev"}
    )
    assert state.values["outcome"]["status"] == "failed"
    assert "'nosuch' not found" in state.values["outcome"]["summary"]


async def test_invalid_name_never_reaches_the_api(deps, cluster):
    before = len(cluster.requests)
    _, state = await run(
        deps,
        "kubernetes",
        {"action": "scale", "service": "Web_App", "environment": "dev", "replicas": 2},
    )
    assert state.values["outcome"]["status"] == "failed"
    assert "DNS-1123" in state.values["outcome"]["summary"]
    assert len(cluster.requests) == before


async def test_memory_bus_records_routing_results_and_reflection(deps):
    await run(
        deps,
        "kubernetes",
        {"action": "status", "service": "web", "environment": "dev"},
        thread="mem-1",
    )
    assert (
        await deps.memory.get(Namespace.WORKFLOW, "routing.devops_root_supervisor", scope="mem-1")
    )["target"] == "infrastructure_supervisor"
    result = await deps.memory.get(Namespace.AGENT, "kubernetes_agent.result", scope="mem-1")
    assert result["status"] == "completed"
    assert await deps.memory.get(Namespace.WORKFLOW, "reflection.kubernetes_agent", scope="mem-1")
    assert (
        await deps.memory.get(Namespace.WORKFLOW, "routing.devops_root_supervisor", scope="other")
        is None
    )


def test_state_is_checkpointable_data():
    """Every state value must survive the checkpointer's serializer."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    serde = JsonPlusSerializer()
    state = initial_state("deploy", {"service": "x"}, "deploy x")
    kind, blob = serde.dumps_typed(state)
    assert serde.loads_typed((kind, blob))["context"] == {"service": "x"}


@pytest.mark.parametrize(
    ("result", "quality", "completeness", "risks"),
    [
        (None, "low", "partial", ["missing_output"]),
        (
            {"status": "failed", "errors": ["x"]},
            "low",
            "partial",
            ["execution_failed", "missing_output", "errors_detected"],
        ),
        (
            {"status": "completed", "output": {"a": 1}, "warnings": ["w"]},
            "high",
            "complete",
            ["warnings_present"],
        ),
        (
            {"status": "planned", "output": {"plan": {"plan_hash": "h", "preview": "p"}}},
            "high",
            "complete",
            [],
        ),
        (
            {"status": "planned", "output": {"plan": {"plan_hash": "h"}}},
            "low",
            "partial",
            ["missing_output"],
        ),
    ],
)
def test_reflection_assessment(result, quality, completeness, risks):
    assert evaluate(result) == {"quality": quality, "completeness": completeness, "risks": risks}


def test_mermaid_shows_every_node():
    mermaid = create_devops_workflow().get_graph().draw_mermaid()
    for node in [
        "devops_root_supervisor",
        "reflection",
        "human_approval",
        "apply",
        *{r.agent for r in ROUTING_TABLE.values()},
    ]:
        assert node in mermaid


async def test_follow_up_run_in_a_thread_gets_its_own_retries(deps):
    """Failures of an earlier run in the same thread must not use up this run's retries."""
    graph = create_devops_workflow(InMemorySaver())
    config = {"configurable": {"thread_id": "follow-up"}, "recursion_limit": RECURSION_LIMIT}
    ctx = {"service": "api-server", "environment": "staging", "image": "api-server:v1.2.3"}
    for _ in range(3):
        await graph.ainvoke(initial_state("codegen", {"service": "web"}, "x"), config, context=deps)
    await graph.ainvoke(initial_state("deploy", ctx, "deploy"), config, context=deps)
    values = (await graph.aget_state(config)).values
    # harness_expert failed, and the retry on kubernetes_agent still happened.
    assert values["outcome"]["status"] == "applied", values["outcome"]
    run = values["run_id"]
    assert [t["target"] for t in values["routing_trace"] if t["run_id"] == run][-1] == (
        "kubernetes_agent"
    )


async def test_langgraph_json_points_at_a_graph_factory():
    import importlib
    import json
    from pathlib import Path
    from types import SimpleNamespace

    config = json.loads((Path(__file__).parents[1] / "langgraph.json").read_text())
    path, _, attr = config["graphs"]["devops"].partition(":")
    module = importlib.import_module(path.removeprefix("./").removesuffix(".py").replace("/", "."))
    # As the LangGraph server calls it to read a thread or draw the graph (bot.studio).
    read = SimpleNamespace(access_context="assistants.read", execution_runtime=None)
    async with getattr(module, attr)(read) as graph:
        assert "human_approval" in graph.get_graph().nodes


async def test_the_gate_refuses_what_is_not_a_vote_and_times_a_vote_itself(deps):
    """A resume that reaches the gate without the service (LangGraph Studio) is still judged:
    a value that is not a vote is refused and the request waits on; a vote without "at" is
    cast now."""
    from dataclasses import replace

    from langgraph.types import Command

    from workflow.approval.policy import load_policy
    from workflow.assembly import SANDBOX_POLICY

    deps = replace(deps, policy=load_policy(SANDBOX_POLICY))
    graph = create_devops_workflow(InMemorySaver())
    config = {"configurable": {"thread_id": "gate"}, "recursion_limit": RECURSION_LIMIT}
    context = {"service": "web", "environment": "production", "image": "web:v9.1"}
    context["requester"] = "U1"
    await graph.ainvoke(initial_state("deploy", context, "deploy"), config, context=deps)
    for resume in ("approve", ["U2"], {"decision": "maybe", "user": "U2"}):
        out = await graph.ainvoke(Command(resume=resume), config, context=deps)
        assert out["approval"]["status"] == "pending", resume
        assert out["approval"]["refusals"][-1]["reason"].startswith('a vote is {"decision"')
    before = deps.clock()
    out = await graph.ainvoke(
        Command(resume={"decision": "approve", "user": "U2"}), config, context=deps
    )
    assert out["approval"]["status"] == "approved", out["approval"]
    assert datetime.fromisoformat(out["approval"]["decided_at"]) >= before
    assert out["outcome"]["status"] == "applied", out["outcome"]
