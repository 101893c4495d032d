"""The operations tools as LangChain tools, called the way a tool-calling model calls them."""

from __future__ import annotations

import uuid
from pathlib import Path

from workflow.deps import WorkflowDeps
from workflow.tools.alertmanager import AlertmanagerClient
from workflow.tools.langchain import TOOL_NAMES, operations_tools

RUNBOOKS = Path(__file__).parent.parent / "fixtures" / "runbooks"


def _by_name(deps) -> dict:
    tools = {t.name: t for t in operations_tools(deps)}
    assert tuple(tools) == TOOL_NAMES
    return tools


async def test_each_tool_answers_from_its_backend(ops_service, alertmanager_url):
    async with ops_service(runbooks_dir=str(RUNBOOKS)) as service:
        tools = _by_name(service.deps)
        schema = tools["metrics_query"].args
        assert {"service", "metric", "namespace", "promql", "range_minutes"} <= set(schema)

        metrics = await tools["metrics_query"].ainvoke(
            {"service": "checkout", "metric": "request_rate", "range_minutes": 1}
        )
        assert metrics["name"] == "request_rate" and metrics["series"], metrics
        assert metrics["summary"]["current"] > 0

        history = await tools["kubernetes_query"].ainvoke(
            {"namespace": "production", "deployment": "checkout", "what": "history"}
        )
        assert [r["revision"] for r in history] == [1, 2] and history[-1]["current"]

        docs = await tools["documentation_search"].ainvoke({"query": "roll back a bad deploy"})
        assert docs and docs[0]["title"]

        web = await tools["web_search"].ainvoke({"query": "context deadline exceeded"})
        assert "web search is not configured" in web

        name = f"ToolTest{uuid.uuid4().hex[:6]}"
        async with AlertmanagerClient(alertmanager_url) as am:
            await am.push_alerts([{"labels": {"alertname": name, "service": "checkout"}}])
            listed = await tools["alert_manager"].ainvoke({"alertname": name})
            assert [a["labels"]["alertname"] for a in listed] == [name]
            planned = await tools["alert_manager"].ainvoke(
                {"action": "plan_silence", "alertname": name, "duration_minutes": 30}
            )
            assert planned["applied"] is False
            assert planned["plan"]["action"] == "silence" and planned["plan"]["plan_hash"]
            assert not await am.silences(filters={"alertname": name}), "a tool never writes"


async def test_a_missing_or_failing_backend_is_the_tools_error_text(ops_service):
    from workflow.approval.policy import ApprovalPolicy
    from workflow.memory import MemoryBus

    tools = _by_name(WorkflowDeps(memory=MemoryBus.in_memory(), policy=ApprovalPolicy.builtin()))
    answer = await tools["metrics_query"].ainvoke({"service": "checkout"})
    assert "PROMETHEUS_URL is not set" in answer
    async with ops_service() as service:
        bad = await _by_name(service.deps)["metrics_query"].ainvoke({"promql": "sum(rate("})
        assert "Prometheus" in bad and "parse error" in bad
