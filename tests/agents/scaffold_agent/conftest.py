from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agents.scaffold_agent.forge_server import Forge, serve
from tests.agents.scaffold_agent.gitlab_server import GitLab
from tests.agents.scaffold_agent.gitlab_server import serve as serve_gitlab

TOKEN = "ghp_TESTtokenNEVERshown0123456789"


@pytest.fixture
def forge(tmp_path: Path) -> Iterator[Forge]:
    f = Forge(tmp_path / "forge", token=TOKEN)
    f.root.mkdir()
    server, _ = serve(f)
    yield f
    server.shutdown()
    server.server_close()


GITLAB_TOKEN = "glpat-TESTtokenNEVERshown01234"


@pytest.fixture
def gitlab(tmp_path: Path) -> Iterator[GitLab]:
    g = GitLab(tmp_path / "gitlab", token=GITLAB_TOKEN)
    g.root.mkdir()
    server, _ = serve_gitlab(g)
    yield g
    server.shutdown()
    server.server_close()
