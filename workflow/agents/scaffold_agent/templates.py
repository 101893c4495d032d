"""Copier templates: the ones shipped with the product and an organisation's own
(`DEVOPS_BOT_TEMPLATES`, a folder of template folders), their questions, and rendering.

A template is a copier template folder (`copier.yml`); an optional `devops-bot.yml` beside it
says what it is (`kind: service|part`, `language`, `parts`, `description`, and `pipeline:
true` when the bot should add a Harness pipeline written by the harness_expert's authoring).
Templates are rendered without tasks or extensions (`unsafe=False`), with the answers given
and the template's own defaults; a question with no default is asked back, never invented.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "SHIPPED",
    "Question",
    "Template",
    "TemplateError",
    "available_templates",
    "render",
]

SHIPPED = Path(__file__).parent / "templates"
KEEP = ".devops-bot-keep"  # a placeholder file that keeps an empty template folder
MAX_FILES, MAX_BYTES = 200, 512 * 1024


class TemplateError(Exception):
    """A template that cannot be used or rendered; the message names the template."""


@dataclass(frozen=True)
class Question:
    name: str
    help: str
    type: str
    has_default: bool
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Template:
    name: str
    path: Path
    kind: str  # service | part
    description: str
    language: str | None = None
    parts: tuple[str, ...] = ()
    pipeline: bool = False
    questions: tuple[Question, ...] = ()
    source: str = "shipped"
    answers_file: str = ".copier-answers.yml"
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def required(self) -> list[Question]:
        return [q for q in self.questions if not q.has_default]

    def describe(self) -> str:
        asks = ", ".join(q.name + ("" if q.has_default else "*") for q in self.questions)
        return f"{self.name} ({self.kind}, {self.source}): {self.description}; asks {asks}"


def _config_file(folder: Path) -> Path | None:
    for name in ("copier.yml", "copier.yaml"):
        if (folder / name).is_file():
            return folder / name
    return None


def load_template(folder: Path, *, source: str) -> Template:
    config_path = _config_file(folder)
    if config_path is None:
        raise TemplateError(f"{folder}: not a copier template (no copier.yml)")
    try:
        config = yaml.safe_load(config_path.read_text()) or {}
        meta_path = folder / "devops-bot.yml"
        meta = yaml.safe_load(meta_path.read_text()) or {} if meta_path.is_file() else {}
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"{config_path}: unreadable: {exc}") from None
    questions = []
    for key, spec in config.items():
        if key.startswith("_"):
            continue
        spec = spec if isinstance(spec, dict) else {"default": spec}
        if spec.get("when") is False:
            continue
        choices = spec.get("choices") or ()
        if isinstance(choices, dict):
            choices = tuple(str(v) for v in choices.values())
        questions.append(
            Question(
                name=str(key),
                help=str(spec.get("help") or key),
                type=str(spec.get("type") or "str"),
                has_default="default" in spec,
                choices=tuple(str(c) for c in choices),
            )
        )
    description = str(meta.get("description") or config.get("_message_before_copy") or "")
    return Template(
        name=folder.name,
        path=folder,
        kind=str(meta.get("kind") or "service"),
        description=description.strip() or f"the copier template {folder.name}",
        language=meta.get("language"),
        parts=tuple(meta.get("parts") or ()),
        pipeline=bool(meta.get("pipeline")),
        questions=tuple(questions),
        source=source,
        answers_file=str(config.get("_answers_file") or ".copier-answers.yml"),
        meta=dict(meta),
    )


def available_templates(extra: str | Path | None = None) -> dict[str, Template]:
    """The shipped templates, then the organisation's (which may replace one by name)."""
    found: dict[str, Template] = {}
    for source, root in (("shipped", SHIPPED), ("organisation", extra)):
        if not root:
            continue
        root = Path(root)
        if not root.is_dir():
            raise TemplateError(f"DEVOPS_BOT_TEMPLATES={root} is not a folder")
        folders = [root] if _config_file(root) else sorted(p for p in root.iterdir() if p.is_dir())
        for folder in folders:
            if _config_file(folder):
                found[folder.name] = load_template(folder, source=source)
    return found


def render(
    template: Template,
    answers: dict[str, Any],
    *,
    src: Path | None = None,
    vcs_ref: str | None = None,
) -> dict[str, str]:
    """The files the template gives for these answers: relative path -> text. `src`/`vcs_ref`:
    render from the template's git mirror at that tag (see `updates.mirror`), so the project
    records the version it came from and `copier update` can bring it forward."""
    import copier

    with tempfile.TemporaryDirectory(prefix="devops-bot-render-") as tmp:
        out = Path(tmp) / "out"
        try:
            copier.run_copy(
                str(src or template.path),
                str(out),
                vcs_ref=vcs_ref,
                data=dict(answers),
                defaults=True,
                overwrite=True,
                quiet=True,
                unsafe=False,
            )
        except Exception as exc:  # copier's errors are many kinds; all mean "did not render"
            raise TemplateError(f"template {template.name} did not render: {exc}") from None
        files: dict[str, str] = {}
        total = 0
        for path in sorted(out.rglob("*")):
            if not path.is_file() or path.name == KEEP or ".git" in path.parts:
                continue
            rel = path.relative_to(out).as_posix()
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise TemplateError(
                    f"template {template.name}: {rel} is not text; binary files are not "
                    "supported in plans"
                ) from None
            total += len(text)
            files[rel] = text
        if len(files) > MAX_FILES or total > MAX_BYTES:
            raise TemplateError(
                f"template {template.name} rendered {len(files)} files ({total} bytes): more "
                f"than a plan carries ({MAX_FILES} files, {MAX_BYTES} bytes)"
            )
        return files
