"""codegen_agent: code generated from a service's OpenAPI document, and its API's changes.

documents.py   where a service's document is (catalog `openapi:`, sandbox, a URL typed in
               the request), fetching and validating it (errors name the JSON path)
generate.py    a Python client (openapi-python-client) or pydantic models
               (datamodel-code-generator), checked (imports, ruff, one safe call) and zipped
compare.py     two versions of a document compared; breaking changes named
reading.py     what a request says (client | models | diff, language, schema, URLs)
client.py      the `openapi` backend and its `connect` hook (the sandbox's APIs with --sandbox)
sandbox.py     `devops-bot sandbox show|reset` of what it remembers
sandbox_api.py the sandbox services' HTTP APIs (checkout has two planted bugs)
node.py        the node: client, models, diff (all reads: files are offered, nothing pushed)
"""

from workflow.agents.codegen_agent.vocabulary import VOCABULARY
from workflow.agents.spec import DEV, AgentSpec, TaskRoute, lazy

__all__ = ["NAME", "SPEC"]

NAME = "codegen_agent"

SPEC = AgentSpec(
    name=NAME,
    supervisor=DEV,
    routes=(TaskRoute("codegen", "Code generation", row=6),),
    capability="API clients and models generated from OpenAPI documents, and API changes",
    vocabulary=VOCABULARY,
    actions=("generate", "create", "update", "client", "models", "diff"),
    backends={
        "openapi": "no OpenAPI documents are known here: name them per service in the "
        "catalog (`openapi: {staging: https://.../openapi.json}`) or paste the URL",
    },
    node=lazy("workflow.agents.codegen_agent.node:codegen_agent"),
    connect=lazy("workflow.agents.codegen_agent.client:connect"),
    sandbox=lazy("workflow.agents.codegen_agent.sandbox:SANDBOX"),
    # testing_agent tests the same documents
    public=("documents", "reading", "client"),
)
