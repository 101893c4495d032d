"""The `openapi` backend: where services' OpenAPI documents and coverage reports are
(the catalog; with the sandbox, its own API servers), and what the bot saw last.

It needs no setting: every process has it. Its history (the document a client was last
generated from, the last coverage report) lives under the data directory.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from workflow.agents.codegen_agent.documents import ApiDirectory
from workflow.agents.spec import BackendContext, Connected

__all__ = ["BACKEND", "connect", "directory_of"]

BACKEND = "openapi"


def directory_of(deps: object) -> ApiDirectory:
    """The opened directory, or one over the catalog alone (history kept in memory)."""
    found = deps.backend(BACKEND)  # type: ignore[attr-defined]
    if isinstance(found, ApiDirectory):
        return found
    return ApiDirectory(catalog=getattr(deps, "catalog", None))


@contextlib.asynccontextmanager
async def connect(context: BackendContext) -> AsyncIterator[Connected]:
    history = Path(context.data_dir) / "api-history" if context.data_dir else None
    directory = ApiDirectory(catalog=context.catalog, history_dir=history)
    if not context.sandbox:
        yield Connected(backends={BACKEND: directory})
        return
    from workflow.agents.codegen_agent.sandbox_api import SandboxApis

    server = SandboxApis()
    server.start()
    directory.sandbox = server.documents()
    directory.coverage_urls = server.coverage()
    try:
        yield Connected(backends={BACKEND: directory})
    finally:
        server.stop()
