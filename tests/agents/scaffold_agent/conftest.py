from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agents.scaffold_agent.forge_server import Forge, serve

TOKEN = "ghp_TESTtokenNEVERshown0123456789"


@pytest.fixture
def forge(tmp_path: Path) -> Iterator[Forge]:
    f = Forge(tmp_path / "forge", token=TOKEN)
    f.root.mkdir()
    server, _ = serve(f)
    yield f
    server.shutdown()
    server.server_close()
