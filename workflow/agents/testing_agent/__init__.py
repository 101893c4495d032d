"""testing_agent: API tests against live services, and their test coverage.

apitest.py   schemathesis (Python API) against a service's OpenAPI document: bounded
             examples and time, a fixed seed, four checks; failures with a curl line; JUnit
scaffold.py  a pytest module generated from the document (property + example tests), run once
coverage.py  a coverage.py JSON or Cobertura XML report (catalog `coverage:`) read
unit.py      a service's unit tests as a Kubernetes Job (catalog `unit_tests:`), followed,
             passed/failed/skipped read from its log
settings.py  the run's bounds (API_TESTS_*) and its `connect` hook
reading.py   what a request says (api | coverage | scaffold | unit, a spec URL)
applier.py   runs an approved API test run that writes (production, unsafe methods)
node.py      the node: api tests, coverage (both reads; against production only safe
             methods are sent)
"""

from workflow.agents.spec import DEV, AgentSpec, TaskRoute, lazy
from workflow.agents.testing_agent.vocabulary import VOCABULARY

__all__ = ["NAME", "SPEC"]

NAME = "testing_agent"

SPEC = AgentSpec(
    name=NAME,
    supervisor=DEV,
    routes=(TaskRoute("test", "Test creation", row=10),),
    capability="API tests against live services and test coverage reports",
    vocabulary=VOCABULARY,
    actions=(
        "test",
        "generate",
        "create",
        "update",
        "status",
        "api",
        "coverage",
        "api_writes",
        "run_unit_tests",
    ),
    # API tests that send unsafe methods to production: planned, approved, then run;
    # a service's unit tests as a Kubernetes Job (unit.py): planned, applied per policy
    writes=frozenset({"api_writes", "run_unit_tests"}),
    appliers={
        "api_tests": lazy("workflow.agents.testing_agent.applier:apply_api_tests"),
        "unit_tests": lazy("workflow.agents.testing_agent.applier:apply_unit_tests"),
    },
    node=lazy("workflow.agents.testing_agent.node:testing_agent"),
    connect=lazy("workflow.agents.testing_agent.settings:connect"),
)
