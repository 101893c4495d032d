"""The seed's three scenarios, run through the real graph, with their routing checked.

`python -m workflow.examples` (or `devops-bot examples`). Uses in-memory persistence
and the sandbox cluster, so it needs no server; prints each routing flow and exits
non-zero if any differs from the seed's.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from workflow.assembly import ServiceOptions, open_service
from workflow.service import PROGRESS_NODE

__all__ = ["SCENARIOS", "run_examples"]

SCENARIOS: list[dict[str, Any]] = [
    {
        "name": "Example 1: deploy to Kubernetes",
        "text": "Deploy api-server to production",
        "task_type": "deploy",
        "context": {
            "action": "deploy",
            "namespace": "production",
            "service": "api-server",
            "environment": "production",
            "image": "api-server:v1.2.3",
        },
        "flow": [
            "devops_root_supervisor",
            "infrastructure_supervisor",
            "kubernetes_agent",
            "reflection",
            "human_approval",
        ],
        "status": "awaiting_approval",
    },
    {
        "name": "Example 2: incident response",
        "text": "Investigate payment service latency",
        "task_type": "incident_response",
        "context": {"incident_id": "INC-12345", "severity": "high", "service": "payment-service"},
        "flow": ["devops_root_supervisor", "operations_supervisor", "incident_agent", "reflection"],
        # With the sandbox's simulated Prometheus and Alertmanager; no environment is given,
        # so pods and logs are reported as not checked.
        "status": "done",
    },
    {
        "name": "Example 3: create CI/CD pipeline",
        "text": "Create pipeline for microservice",
        "task_type": "pipeline",
        "context": {
            "pipeline_name": "microservice-cicd",
            "repository": "https://github.com/org/microservice",
            "environments": ["dev", "staging", "production"],
        },
        "flow": [
            "devops_root_supervisor",
            "infrastructure_supervisor",
            "harness_expert",
            "reflection",
            "human_approval",
        ],
        # Planned in the sandbox's simulated Harness (validated there); it deploys to
        # production, so it waits for approval.
        "status": "awaiting_approval",
    },
]


async def run_examples(out=print) -> bool:
    ok = True
    with tempfile.TemporaryDirectory(prefix="devops-bot-examples-") as tmp:
        options = ServiceOptions(
            data_dir=Path(tmp), persistence="memory", sandbox=True, sandbox_state=False
        )
        async with open_service(options) as handle:
            for i, scenario in enumerate(SCENARIOS, 1):
                flow: list[str] = []

                def seen(node: str, update: dict[str, Any], flow=flow) -> None:
                    if node != PROGRESS_NODE:  # evidence reported while a node runs
                        flow.append(node)

                report = await handle.service.start(
                    task_type=scenario["task_type"],
                    context={**scenario["context"], "sandbox": True},
                    text=scenario["text"],
                    requester="examples",
                    thread_id=f"example-{i}",
                    on_progress=seen,
                )
                if report.status == "awaiting_approval":
                    flow.append("human_approval")
                good = flow == scenario["flow"] and report.status == scenario["status"]
                ok &= good
                out(f"{'PASS' if good else 'FAIL'} {scenario['name']}")
                out(f"  flow:     {' -> '.join(flow)}")
                if not good:
                    out(f"  expected: {' -> '.join(scenario['flow'])} ({scenario['status']})")
                first = report.summary.splitlines()[0] if report.summary else ""
                out(f"  result:   {report.status}: {first}")
    out("all scenarios routed as the seed describes" if ok else "some scenarios FAILED")
    return ok


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(run_examples()) else 1)
