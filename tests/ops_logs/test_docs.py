"""documentation_search over the runbook fixtures, in RediSearch (real Redis Stack) and
SQLite FTS5, plus the web_search stub."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aredis

from workflow.catalog import ServiceCatalog
from workflow.tools.docs import (
    RediSearchDocs,
    SqliteFtsDocs,
    index_catalog,
    link_section,
    parse_markdown,
    query_tokens,
)
from workflow.tools.errors import BackendNotConfigured
from workflow.tools.web import DisabledWebSearch, WebSearch

RUNBOOKS = Path(__file__).resolve().parent.parent / "fixtures" / "runbooks"

CATALOG = ServiceCatalog.from_dict(
    {
        "services": {
            "checkout": {
                "namespaces": {"production": "production"},
                "runbooks": ["https://runbooks.example.com/checkout/payment-gateway-errors"],
            },
            "payment-service": {
                "runbooks": ["https://wiki.example.com/display/OPS/Payment+Provider+Failover"],
            },
        }
    }
)


@pytest.fixture(params=["redisearch", "sqlite"])
async def docs(request, tmp_path):
    if request.param == "redisearch":
        redis_url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("key_prefix")
        client = aredis.Redis.from_url(redis_url)
        backend = RediSearchDocs(client, prefix)
        yield backend
        await backend.drop()
        await client.aclose()
    else:
        backend = SqliteFtsDocs(tmp_path / "docs.sqlite")
        yield backend
        backend.close()


@pytest.fixture
async def indexed(docs):
    assert await docs.index_directory(RUNBOOKS) >= 6
    assert await index_catalog(docs, CATALOG) == 2
    return docs


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("pods OOMKilled", "oomkilled.md"),
        ("rollback a bad deploy", "rollback.md"),
        ("latency p99 high", "high-latency.md"),
        ("no space left on device", "disk-full.md"),
        ("CrashLoopBackOff restarting", "crashloop.md"),
        ("card payments declined", "payment-declines.md"),
    ],
)
async def test_top_hit(indexed, query, expected):
    results = await indexed.search(query)
    assert results, query
    top = results[0]
    assert Path(top["path_or_url"]).name == expected
    assert top["title"] and top["snippet"] and isinstance(top["score"], float)
    assert "*" in top["snippet"]  # highlighted query terms
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    paths = [r["path_or_url"] for r in results]
    assert len(paths) == len(set(paths))  # one result per document


async def test_titles_and_sections(indexed):
    top = (await indexed.search("OOMKilled exit code 137"))[0]
    assert top["title"] == "OOMKilled containers"
    assert top["section"] in ("OOMKilled containers", "Symptoms")


async def test_catalog_runbook_links_are_found(indexed):
    results = await indexed.search("payment gateway errors", service="checkout")
    assert results[0]["path_or_url"] == (
        "https://runbooks.example.com/checkout/payment-gateway-errors"
    )
    assert results[0]["title"] == "Payment gateway errors"
    assert results[0]["service"] == "checkout"
    failover = await indexed.search("provider failover")
    assert failover[0]["path_or_url"].endswith("Payment+Provider+Failover")


async def test_service_filter(indexed):
    unfiltered = await indexed.search("latency p99 high")
    assert Path(unfiltered[0]["path_or_url"]).name == "high-latency.md"
    other = await indexed.search("latency p99 high", service="payment-service")
    names = [Path(r["path_or_url"]).name for r in other]
    assert "high-latency.md" not in names  # checkout's runbook
    assert all(r["service"] in (None, "payment-service") for r in other)
    assert "payment-declines.md" in names
    mine = await indexed.search("latency p99 high", service="checkout")
    assert Path(mine[0]["path_or_url"]).name == "high-latency.md"
    assert all(r["service"] in (None, "checkout") for r in mine)
    assert await indexed.search("declines", service="checkout") == []


@pytest.mark.parametrize(
    "text",
    [
        '500s: "timeout" -foo @bar',
        "*",
        "()|{}[]@:-~\"'\\",
        "@service:{checkout} | -rollback",
        "title:rollback OR body:NEAR(a b)",
        "NOT AND OR NEAR",
        "%%% ;; DROP TABLE docs; --",
        "",
        "   ",
        "the a an of",
        "ünïcödé 日本語 🚀",
        "x" * 5000,
    ],
)
async def test_weird_user_input_never_raises(indexed, text):
    results = await indexed.search(text)
    assert isinstance(results, list)
    results = await indexed.search(text, service="check-out\\}")
    assert isinstance(results, list)


async def test_weird_input_still_finds_its_words(indexed):
    results = await indexed.search('"rollback"!!! -- @deploy:{bad}')
    assert Path(results[0]["path_or_url"]).name == "rollback.md"


async def test_limit_and_reindexing_replaces(indexed, tmp_path):
    assert len(await indexed.search("pods", limit=2)) <= 2
    with pytest.raises(ValueError):
        await indexed.search("pods", limit=0)
    folder = tmp_path / "more"
    folder.mkdir()
    note = folder / "cache.md"
    note.write_text("# Cache warmup\n\nWarm the zanzibar cache after a flush.\n")
    await indexed.index_directory(folder)
    assert (await indexed.search("zanzibar"))[0]["title"] == "Cache warmup"
    note.write_text("# Cache warmup\n\nNothing to see.\n")
    await indexed.index_directory(folder)
    assert await indexed.search("zanzibar") == []
    assert len(await indexed.search("Cache warmup")) == 1
    with pytest.raises(FileNotFoundError):
        await indexed.index_directory(tmp_path / "missing")


def test_markdown_parsing():
    sections = parse_markdown(RUNBOOKS / "high-latency.md")
    assert {s.title for s in sections} == {"Checkout high latency"}
    assert [s.heading for s in sections] == [
        "Checkout high latency",
        "Symptoms",
        "Diagnosis",
        "Mitigation",
    ]
    assert all(s.service == "checkout" for s in sections)
    assert parse_markdown(RUNBOOKS / "rollback.md")[0].service is None
    untitled = parse_markdown(
        Path("notes/db_failover.md"), text="Intro.\n\n```\n# not a heading\n```\n## Steps\nGo."
    )
    assert untitled[0].title == "db failover"
    assert [s.heading for s in untitled] == ["db failover", "Steps"]
    assert "# not a heading" in untitled[0].body
    link = link_section("checkout", "https://runbooks.example.com/checkout/high-latency.md")
    assert link.title == "High latency" and link.service == "checkout"
    assert query_tokens('500s: "timeout" -foo @bar the') == ["500s", "timeout", "foo", "bar"]


async def test_web_search_is_off_and_says_so():
    web = DisabledWebSearch()
    assert isinstance(web, WebSearch)
    assert not web.enabled
    with pytest.raises(BackendNotConfigured, match="web search is not configured"):
        await web.search("kubernetes oomkilled")
    assert "not configured" in web.describe()
