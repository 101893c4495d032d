"""Generated code from an OpenAPI document, checked before it is offered.

A client with openapi-python-client, pydantic models with datamodel-code-generator: each
through its documented command line as an argument list (never a shell string), in a
subprocess bounded in time. The result is checked: the package imports (in a subprocess),
ruff passes, and, when the service answers, one safe call (a GET without required
parameters) goes through the generated client and its response parses.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Check",
    "Generated",
    "GenerationError",
    "generate_client",
    "generate_models",
    "package_name",
    "schema_names",
    "zip_part",
]

GENERATE_TIMEOUT_S = 120.0
CHECK_TIMEOUT_S = 60.0


class GenerationError(Exception):
    """The generator failed or its output did not pass a check."""


@dataclass
class Check:
    name: str  # imports | ruff | safe call
    ok: bool | None  # None: skipped
    detail: str = ""


@dataclass
class Generated:
    kind: str  # client | models
    root: Path  # the folder holding the package / module
    files: dict[str, str] = field(default_factory=dict)  # relative path -> text
    checks: list[Check] = field(default_factory=list)
    tool: str = ""

    @property
    def ok(self) -> bool:
        return all(c.ok is not False for c in self.checks)


def package_name(service: str, kind: str = "client") -> str:
    name = re.sub(r"[^a-z0-9]+", "_", service.lower()).strip("_") or "api"
    if name[0].isdigit():
        name = f"api_{name}"
    return f"{name}_{kind}"


def _run(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise GenerationError(
            f"{Path(args[2]).name if len(args) > 2 else args[0]} took "
            f"over {timeout:.0f} s and was stopped"
        ) from None


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _collect(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".typed", ".md")
    }


def _ruff(root: Path, target: str, *, tidy: bool = False) -> Check:
    """`ruff check` (syntax and pyflakes rules) of the generated code; `tidy` first removes
    what ruff can fix, as openapi-python-client's own default post-hook (`--fix-only`)."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        return Check("ruff", None, "ruff is not installed here: not checked")
    if tidy:
        fix = [ruff, "check", "--no-cache", "--isolated", "--select", "F", "--fix-only", target]
        _run(fix, root, CHECK_TIMEOUT_S)
        _run([ruff, "format", "--no-cache", "--isolated", target], root, CHECK_TIMEOUT_S)
    args = [ruff, "check", "--no-cache", "--isolated", "--select", "E9,F", target]
    done = _run(args, root, CHECK_TIMEOUT_S)
    if done.returncode == 0:
        return Check("ruff", True, "ruff check (pyflakes and syntax rules): no findings")
    return Check("ruff", False, _tail(done.stdout or done.stderr))


def _imports(root: Path, module: str) -> Check:
    done = _run([sys.executable, "-c", f"import {module}"], root, CHECK_TIMEOUT_S)
    if done.returncode == 0:
        return Check("imports", True, f"import {module}: ok")
    return Check("imports", False, _tail(done.stderr))


# Runs in a subprocess, in the folder of the generated package: calls, through the generated
# client, each GET without required parameters (at most 5), and prints one JSON line each.
_SAFE_CALL = r"""
import importlib, inspect, json, pkgutil, sys
package, base_url = sys.argv[1], sys.argv[2]
client_module = importlib.import_module(package + ".client")
api = importlib.import_module(package + ".api")
tried = 0
for info in pkgutil.walk_packages(api.__path__, package + ".api."):
    if info.ispkg or tried >= 5:
        continue
    module = importlib.import_module(info.name)
    kwargs = getattr(module, "_get_kwargs", None)
    if kwargs is None or not hasattr(module, "sync_detailed"):
        continue
    required = [p for p in inspect.signature(kwargs).parameters.values()
                if p.default is inspect.Parameter.empty]
    if required or kwargs().get("method", "").lower() != "get":
        continue
    tried += 1
    label = "GET " + kwargs()["url"]
    try:
        with client_module.Client(base_url=base_url, raise_on_unexpected_status=True) as client:
            response = module.sync_detailed(client=client)
    except Exception as exc:
        refused = "ConnectError" in type(exc).__name__ or "refused" in str(exc).lower()
        print(json.dumps({"operation": label, "ok": None if refused else False,
                          "error": (type(exc).__name__ + ": " + str(exc))[:300]}))
        continue
    status = int(response.status_code)
    ok = 200 <= status < 300 and response.parsed is not None
    print(json.dumps({"operation": label, "status": status, "ok": ok,
                      "parsed": type(response.parsed).__name__}))
"""


def _safe_call(root: Path, package: str, base_url: str | None) -> Check:
    """Passed when a safe GET went through the client and parsed; responses that did not
    parse are named in the detail (the service does not match its document there)."""
    if not base_url:
        return Check("safe call", None, "the service's URL is not known: no call made")
    done = _run([sys.executable, "-c", _SAFE_CALL, package, base_url], root, CHECK_TIMEOUT_S)
    calls = []
    for line in done.stdout.splitlines():
        try:
            calls.append(json.loads(line))
        except ValueError:
            continue
    if done.returncode != 0 and not calls:
        return Check("safe call", False, _tail(done.stderr, 3))
    if not calls:
        return Check("safe call", None, "no GET without required parameters to call")
    if all(c["ok"] is None for c in calls):
        return Check("safe call", None, f"{base_url} did not answer: no call made")
    good = [c for c in calls if c["ok"]]
    bad = [c for c in calls if c["ok"] is False]
    shown = [f"{c['operation']} -> {c['status']}, parsed as {c['parsed']}" for c in good[:1]]
    shown += [
        f"{c['operation']}: " + (c.get("error") or f"HTTP {c.get('status')}, not parsed")
        for c in bad
    ]
    return Check("safe call", bool(good), "; ".join(shown))


def _write_document(folder: Path, document: dict[str, Any]) -> Path:
    path = folder / "openapi.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _generate_client_sync(
    document: dict[str, Any], service: str, base_url: str | None, work: Path
) -> Generated:
    package = package_name(service)
    spec = _write_document(work, document)
    config = work / "config.json"
    config.write_text(
        json.dumps(
            {
                "package_name_override": package,
                "project_name_override": package.replace("_", "-"),
                "post_hooks": [],
            }
        ),
        encoding="utf-8",
    )
    out = work / "out"
    out.mkdir()
    args = [
        sys.executable, "-m", "openapi_python_client", "generate",
        "--path", str(spec), "--output-path", str(out / package), "--meta", "none",
        "--config", str(config),
    ]  # fmt: skip
    done = _run(args, work, GENERATE_TIMEOUT_S)
    if done.returncode != 0 or not (out / package / "__init__.py").exists():
        raise GenerationError("openapi-python-client failed:\n" + _tail(done.stdout + done.stderr))
    generated = Generated("client", out, tool="openapi-python-client")
    generated.checks.append(_imports(out, package))
    generated.checks.append(_ruff(out, package, tidy=True))
    if generated.checks[0].ok:
        generated.checks.append(_safe_call(out, package, base_url))
    generated.files = _collect(out)
    return generated


def schema_names(document: dict[str, Any]) -> list[str]:
    return sorted(((document.get("components") or {}).get("schemas") or {}).keys())


def _pick_schema(document: dict[str, Any], wanted: str) -> str:
    names = schema_names(document)
    low = wanted.lower().rstrip("s")
    for name in names:
        if name.lower() == wanted.lower() or name.lower() == low:
            return name
    close = [n for n in names if low in n.lower()]
    if len(close) == 1:
        return close[0]
    raise GenerationError(
        f"the document has no schema {wanted!r}; its schemas: {', '.join(names) or 'none'}"
    )


def _json_schema_of(document: dict[str, Any], name: str) -> dict[str, Any]:
    """Schema `name` as a JSON Schema document, with the components it refers to."""
    schemas = (document.get("components") or {}).get("schemas") or {}
    text = json.dumps(schemas).replace("#/components/schemas/", "#/$defs/")
    defs = json.loads(text)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": name,
            **defs[name], "$defs": defs}  # fmt: skip


def _generate_models_sync(
    document: dict[str, Any], service: str, schema: str | None, work: Path
) -> Generated:
    module = package_name(service, "models")
    out = work / "out"
    out.mkdir()
    if schema:
        picked = _pick_schema(document, schema)
        source = work / "schema.json"
        source.write_text(json.dumps(_json_schema_of(document, picked)), encoding="utf-8")
        kind = "jsonschema"
    else:
        source, kind = _write_document(work, document), "openapi"
    args = [
        sys.executable, "-m", "datamodel_code_generator",
        "--input", str(source), "--input-file-type", kind,
        "--output", str(out / f"{module}.py"),
        "--output-model-type", "pydantic_v2.BaseModel",
        "--disable-timestamp", "--use-annotated", "--use-standard-collections",
    ]  # fmt: skip
    done = _run(args, work, GENERATE_TIMEOUT_S)
    if done.returncode != 0 or not (out / f"{module}.py").exists():
        raise GenerationError(
            "datamodel-code-generator failed:\n" + _tail(done.stdout + done.stderr)
        )
    generated = Generated("models", out, tool="datamodel-code-generator")
    generated.checks.append(_imports(out, module))
    generated.checks.append(_ruff(out, f"{module}.py"))
    generated.files = _collect(out)
    return generated


async def generate_client(
    document: dict[str, Any], service: str, base_url: str | None, work: Path | None = None
) -> Generated:
    """A checked client package (in `work`, a new temporary folder when None)."""
    folder = work or Path(tempfile.mkdtemp(prefix="devops-bot-client-"))
    folder.mkdir(parents=True, exist_ok=True)
    return await asyncio.to_thread(_generate_client_sync, document, service, base_url, folder)


async def generate_models(
    document: dict[str, Any], service: str, schema: str | None, work: Path | None = None
) -> Generated:
    """Checked pydantic models of `schema` (all schemas when None)."""
    folder = work or Path(tempfile.mkdtemp(prefix="devops-bot-models-"))
    folder.mkdir(parents=True, exist_ok=True)
    return await asyncio.to_thread(_generate_models_sync, document, service, schema, folder)


def zip_part(generated: Generated, name: str) -> dict[str, Any]:
    """The generated files as one zip `file` part (base64: uploaded and written as bytes)."""
    from workflow import parts

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in generated.files.items():
            archive.writestr(path, text)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return parts.binary_file(
        f"{name}.zip", encoded, media_type="application/zip", title=f"{name}.zip"
    )
