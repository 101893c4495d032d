"""Coverage reports in both formats, and the change since the last report seen."""

from __future__ import annotations

import json

import pytest

from tests.api_services import serve
from workflow.agents.testing_agent.coverage import CoverageError, parse_coverage

COVERAGE_JSON = {
    "meta": {"format": 3},
    "files": {
        "ledger/api.py": {"summary": {"percent_covered": 91.5}},
        "ledger/books.py": {"summary": {"percent_covered": 40.0}},
        "ledger/util.py": {"summary": {"percent_covered": 0.0}},
    },
    "totals": {"percent_covered": 77.123, "num_statements": 400, "covered_lines": 308},
}
COBERTURA = """<?xml version="1.0" ?>
<coverage line-rate="0.8125" branch-rate="0" lines-valid="160" lines-covered="130" version="7">
  <packages><package name="ledger" line-rate="0.8125"><classes>
    <class name="api.py" filename="ledger/api.py" line-rate="0.95"/>
    <class name="books.py" filename="ledger/books.py" line-rate="0.5"/>
  </classes></package></packages>
</coverage>
"""


def test_coverage_py_json():
    report = parse_coverage(json.dumps(COVERAGE_JSON))
    assert (report.percent, report.statements, report.covered) == (77.12, 400, 308)
    assert report.lowest(2) == [("ledger/util.py", 0.0), ("ledger/books.py", 40.0)]
    assert report.format == "coverage.py JSON"


def test_cobertura_xml():
    report = parse_coverage(COBERTURA)
    assert (report.percent, report.statements, report.covered) == (81.25, 160, 130)
    assert report.lowest(1) == [("ledger/books.py", 50.0)]


def test_neither_format_is_refused():
    with pytest.raises(CoverageError, match=r"neither coverage.py JSON nor Cobertura"):
        parse_coverage("percent: 80")
    with pytest.raises(CoverageError, match=r"no totals.percent_covered"):
        parse_coverage('{"files": {}}')


async def test_the_agent_reports_totals_lowest_and_change_since_last(tmp_path):
    from aiohttp import web

    from workflow.agents.codegen_agent.documents import ApiDirectory
    from workflow.agents.testing_agent.node import _coverage
    from workflow.catalog import ServiceCatalog

    reports = [COBERTURA, json.dumps(COVERAGE_JSON)]

    def app() -> web.Application:
        async def report(_: web.Request) -> web.Response:
            return web.Response(text=reports[0])

        application = web.Application()
        application.router.add_get("/coverage", report)
        return application

    class Deps:
        catalog = None

        def __init__(self, directory):
            self.directory = directory

        def backend(self, name):
            return self.directory if name == "openapi" else None

    with serve(app) as url:
        catalog = ServiceCatalog.from_dict(
            {"services": {"ledger": {"coverage": f"{url}/coverage"}}}
        )
        deps = Deps(ApiDirectory(catalog=catalog, history_dir=tmp_path))
        first = await _coverage(deps, {"service": "ledger"}, {})
        assert first.output["percent"] == 81.25 and first.output["change"] is None
        assert "first report seen" in first.summary
        reports.pop(0)
        second = await _coverage(deps, {"service": "ledger"}, {})
    assert second.output["change"] == round(77.12 - 81.25, 2)
    assert "since the last report seen: -4.1 points (was 81.2%)" in second.summary, second.summary
    assert second.output["lowest"][0] == {"module": "ledger/util.py", "percent": 0.0}
    (table,) = [p for p in second.parts if p["kind"] == "table"]
    assert table["rows"][1] == ["ledger/books.py", "40.0%", "-10.0"]
