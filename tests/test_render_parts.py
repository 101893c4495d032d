"""Every result part kind as the terminal shows it, `--out DIR` writing files and charts, and
`--json` carrying parts and a plan's files."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from bot import render
from workflow import parts
from workflow.plan import Plan

PNG = b"\x89PNG\r\n\x1a\n"


class _Report(SimpleNamespace):
    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _done(*shown: dict[str, Any]) -> _Report:
    return _Report(
        thread_id="cli-1", status="done", summary="ok", result={"parts": list(shown)}, approval=None
    )


def _metric() -> dict[str, Any]:
    points = [[1700000000.0 + 60 * i, 0.1 * i] for i in range(10)]
    summary = {"no_data": False, "current": 0.9}
    return {
        "name": "latency_p99",
        "title": "p99 latency",
        "promql": "x",
        "unit": "s",
        "series": [{"labels": {}, "points": points, "summary": summary}],
        "summary": summary,
    }


def test_every_kind_has_one_terminal_renderer():
    assert set(render.RENDERERS) == set(parts.KINDS)


def test_text_table_preview_and_findings(capsys):
    record = {"remediations": {"r1": {}, "r2": {}}}
    render.report(
        _done(
            parts.text("hello"),
            parts.table("Pods", ["pod", "ready"], [["web-1", True], ["w-2", False]]),
            parts.preview("+ image: b"),
            parts.findings(record),
        ),
        as_json=False,
    )
    out = capsys.readouterr().out
    assert "DONE: ok\n\nhello\n" in out
    assert "  Pods\n    pod    ready\n    web-1  True\n    w-2    False\n" in out
    assert "  Dry-run preview:\n    + image: b\n" in out
    assert "devops-bot remediate cli-1 r1 --as USER" in out


def test_file_is_printed_without_out_and_written_with_it(capsys, tmp_path):
    part = parts.file("ci/pipeline.yaml", "steps: [build]\n")
    render.report(_done(part), as_json=False)
    out = capsys.readouterr().out
    assert "  file   ci/pipeline.yaml (1 lines; --out DIR writes it)" in out
    assert "steps: [build]" in out
    render.report(_done(part), as_json=False, out_dir=tmp_path / "out")
    written = tmp_path / "out" / "ci" / "pipeline.yaml"
    assert written.read_text() == "steps: [build]\n"
    assert f"  file   {written}" in capsys.readouterr().out


def test_charts_are_drawn_as_png_into_out(capsys, tmp_path):
    render.report(_done(parts.chart(_metric())), as_json=False, out_dir=tmp_path)
    (png,) = tmp_path.glob("*.png")
    assert png.name == "cli-1-1-latency_p99.png" and png.read_bytes().startswith(PNG)
    assert f"  chart  {png}" in capsys.readouterr().out
    render.report(_done(parts.chart(_metric())), as_json=False)
    assert "  chart  p99 latency (not drawn: no folder for charts)" in capsys.readouterr().out


def _awaiting(files: list[dict[str, Any]]) -> _Report:
    plan = Plan(action="deploy", kind="Pipeline", name="web", preview="+ p", files=files)
    data = plan.with_hash().model_dump(mode="json")
    approval = {
        "id": "apr-1",
        "action": "deploy",
        "target": "pipeline/web",
        "environment": "staging",
        "namespace": None,
        "requester": "U1",
        "requested_at": "t0",
        "expires_at": "t1",
        "plan_hash": data["plan_hash"],
        "preview": "+ p",
        "min_approvals": 1,
        "votes": [],
        "files": data["files"],
    }
    return _Report(
        thread_id="cli-2",
        status="awaiting_approval",
        summary="waiting",
        result={"parts": [parts.preview("+ p")]},
        approval=approval,
    )


LONG = "\n".join(f"line {n}" for n in range(1, 31))


def test_a_plan_with_files_shows_them_and_out_writes_them(capsys, tmp_path):
    report = _awaiting([{"path": "ci/pipeline.yaml", "content": LONG}])
    render.report(report, as_json=False)
    out = capsys.readouterr().out
    assert "  files (1):\n    ci/pipeline.yaml (30 lines, application/yaml)\n" in out
    assert "      line 20\n      … 10 more line(s); --out DIR writes the whole file" in out
    assert "line 21" not in out
    render.report(report, as_json=False, out_dir=tmp_path)
    assert (tmp_path / "ci" / "pipeline.yaml").read_text() == LONG


def test_json_includes_parts_and_plan_files_and_out_still_writes(capsys, tmp_path):
    report = _awaiting([{"path": "db/001.sql", "content": "select 1;"}])
    render.report(report, as_json=True, out_dir=tmp_path)
    data = json.loads(capsys.readouterr().out)
    assert data["approval"]["files"][0]["path"] == "db/001.sql"
    assert data["result"]["parts"] == [
        {"kind": "preview", "title": "Dry-run preview", "body": "+ p"}
    ]
    assert (tmp_path / "db" / "001.sql").read_text() == "select 1;"


@pytest.mark.parametrize("path", ["../x", "/etc/x", "a/../../x", "", "a\\..\\x"])
def test_out_refuses_paths_outside_its_folder(tmp_path, path):
    with pytest.raises(parts.PartError):
        render.write_files(tmp_path / "out", [{"path": path, "content": "x"}])
    assert not (tmp_path / "x").exists() and not (tmp_path / "out").exists()


def test_out_refuses_a_symlink_out_of_its_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(tmp_path)
    with pytest.raises(parts.PartError, match="outside"):
        render.write_files(
            out, [{"path": "ok.txt", "content": "1"}, {"path": "link/x", "content": "2"}]
        )
    assert not (tmp_path / "x").exists() and not (out / "ok.txt").exists(), "nothing written"


def test_constructors_keep_parts_plain_json():
    shown = [
        parts.text("a"),
        parts.table("t", ["a"], [[None]]),
        parts.file("./a/b.md", "# x"),
        parts.chart(_metric()),
        parts.findings({"id": "INC-1"}),
        parts.preview("p"),
    ]
    assert json.loads(json.dumps(shown)) == shown
    assert shown[2]["path"] == "a/b.md" and shown[2]["media_type"] == "text/markdown"
    assert shown[1]["rows"] == [[""]]
    with pytest.raises(parts.PartError, match="2 cells for 1 columns"):
        parts.table("t", ["a"], [[1, 2]])
    assert parts.parts_of({"parts": [{"kind": "nope"}, shown[0], "junk"]}) == [shown[0]]
