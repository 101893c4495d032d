"""Real generators on live loopback services: the client imports, passes ruff and calls the
service through itself; models validate; a client whose safe call fails is not offered."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import subprocess
import sys
import zipfile

from tests.api_services import library_document, serve_library
from workflow.agents.codegen_agent.generate import generate_client, generate_models, zip_part


async def test_a_client_of_a_correct_service_is_checked_and_calls_it(tmp_path):
    with serve_library(bugs=False) as url:
        generated = await generate_client(library_document(), "library", url, tmp_path)
        checks = {c.name: (c.ok, c.detail) for c in generated.checks}
        assert checks["imports"][0] and checks["ruff"][0], checks
        assert checks["safe call"] == (True, "GET /books -> 200, parsed as list"), checks
        assert generated.ok
        # the package, taken out of its zip, imported and called by a fresh interpreter
        part = zip_part(generated, "library_client")
        archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(part["content"])))
        assert "library_client/api/default/get_book.py" in archive.namelist()
        archive.extractall(tmp_path / "unzipped")
        script = (
            "import json, sys\n"
            "from library_client import Client\n"
            "from library_client.api.default import get_book\n"
            "book = get_book.sync(client=Client(base_url=sys.argv[1]), book_id=2)\n"
            "print(json.dumps({'title': book.title, 'genre': book.genre.value}))\n"
        )
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", script, url],
            cwd=tmp_path / "unzipped",
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"title": "Walden", "genre": "essay"}


async def test_a_client_whose_safe_call_does_not_parse_is_not_offered(tmp_path):
    with serve_library(bugs=True) as url:  # the list has a genre outside the enum
        generated = await generate_client(library_document(), "library", url, tmp_path)
    call = next(c for c in generated.checks if c.name == "safe call")
    assert call.ok is False and "poetry" in call.detail, call
    assert not generated.ok


async def test_models_of_one_schema_validate_and_reject(tmp_path):
    generated = await generate_models(library_document(), "library", "books", tmp_path)
    assert generated.ok, generated.checks
    (path,) = generated.files
    assert path == "library_models.py"
    script = (
        "import library_models as m\n"
        "b = m.Book(id=1, title='Emma', genre='novel')\n"
        "assert b.genre.value == 'novel'\n"
        "try:\n"
        "    m.Book(id=1, title='x', genre='poetry')\n"
        "except Exception as e:\n"
        "    print('rejected', type(e).__name__)\n"
    )
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script],
        cwd=generated.root,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "rejected ValidationError"
