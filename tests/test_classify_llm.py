"""The LLM fallback: a scripted LangChain chat model, and real ChatOpenAI against a fake server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field
from structlog.testing import capture_logs

from tests.fake_openai import FakeOpenAI
from workflow.classify import (
    CONFIDENCE_THRESHOLD,
    LLMClassification,
    build_openai_model,
    classify,
    classify_llm,
    classify_text,
)
from workflow.classify.llm import LLMTaskTypeError, redact, validate_llm_output

API_KEY = "sk-test-DO-NOT-LOG-0123456789abcdef"


def answer(task_type: str, confidence: float = 0.85, **fields: Any) -> dict[str, Any]:
    """A complete structured answer (strict JSON schema: every field present)."""
    base = {name: None for name in LLMClassification.model_fields}
    base.update(task_type=task_type, confidence=confidence, **fields)
    return base


class ScriptedChatModel(BaseChatModel):
    """Answers each call with the next scripted item as a tool call (LangChain's default
    `with_structured_output` path). An exception item is raised; a ("sleep", s) item hangs."""

    responses: list[Any] = Field(default_factory=list)
    calls: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools, *, tool_choice=None, **kwargs):
        return self.bind(
            tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs
        )

    def _result(self, item: Any, kwargs: dict[str, Any]) -> ChatResult:
        if isinstance(item, BaseException):
            raise item
        name = kwargs["tools"][0]["function"]["name"]
        msg = AIMessage(
            content="",
            tool_calls=[{"name": name, "args": item, "id": "call_1", "type": "tool_call"}],
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.calls.append(messages)
        return self._result(self.responses.pop(0), kwargs)

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.calls.append(messages)
        item = self.responses.pop(0)
        if isinstance(item, tuple) and item[0] == "sleep":
            await asyncio.sleep(item[1])
            item = answer("debug")
        return self._result(item, kwargs)


# Texts the rules are unsure about (asserted below), and ones they are sure about.
VAGUE = "something is off with checkout, can you have a look? -n payments-prod"
VAGUE_NO_NS = "the orders thing is acting weird since lunch"
CLEAR = "kubectl scale deployment/web --replicas=3 -n prod"


def test_fixture_texts():
    assert classify_text(VAGUE).confidence < CONFIDENCE_THRESHOLD
    assert classify_text(VAGUE_NO_NS).confidence < CONFIDENCE_THRESHOLD
    assert classify_text(CLEAR).confidence >= CONFIDENCE_THRESHOLD


# ------------------------------------------------------------------ scripted model


async def test_low_confidence_asks_the_llm_and_merges():
    model = ScriptedChatModel(
        responses=[
            answer(
                "debug",
                0.8,
                service="Checkout",
                environment="prd",
                namespace="some-other-ns",
                action="investigate",
                time_range="last 2 hours",
            )
        ]
    )
    req = await classify(VAGUE, llm=model)
    assert len(model.calls) == 1
    assert model.calls[0][-1].content == VAGUE  # the cleaned text, as the human turn
    assert req.source == "llm" and req.task_type == "debug" and req.confidence == 0.8
    # The rules read -n explicitly: it wins over the model's namespace.
    assert req.context["namespace"] == "payments-prod"
    assert req.context["service"] == "checkout"  # lowercased
    assert req.context["environment"] == "production"
    assert req.context["time_range"] == "2h"
    assert req.hint is None


async def test_high_confidence_never_calls_the_llm():
    model = ScriptedChatModel(responses=[])
    req = await classify(CLEAR, llm=model)
    assert model.calls == []
    assert req.source == "rules" and req.task_type == "kubernetes"


async def test_without_llm_is_rules_only():
    assert await classify(VAGUE) == classify_text(VAGUE)


async def test_unknown_task_type_is_rejected():
    model = ScriptedChatModel(responses=[answer("reboot_the_internet", 0.99, service="web")])
    with capture_logs() as logs:
        req = await classify(VAGUE_NO_NS, llm=model)
    assert len(model.calls) == 1
    assert req == classify_text(VAGUE_NO_NS)
    assert req.source in ("rules", "none")
    assert [e["event"] for e in logs] == ["classify.llm_failed"]
    assert logs[0]["error_type"] == "LLMTaskTypeError"


async def test_llm_exception_falls_back_without_leaking_secrets():
    model = ScriptedChatModel(responses=[RuntimeError(f"upstream said no, key={API_KEY}")])
    with capture_logs() as logs:
        req = await classify(VAGUE, llm=model)
    assert req == classify_text(VAGUE)
    assert logs and logs[0]["log_level"] == "warning"
    assert API_KEY not in repr(logs)


async def test_llm_timeout_falls_back():
    model = ScriptedChatModel(responses=[("sleep", 5)])
    t0 = time.perf_counter()
    req = await classify(VAGUE, llm=model, timeout=0.2)
    assert time.perf_counter() - t0 < 2
    assert req == classify_text(VAGUE)


async def test_llm_says_not_devops():
    model = ScriptedChatModel(responses=[answer("none", 0.9)])
    req = await classify("what's for lunch", llm=model)
    assert req.task_type is None and req.source == "none" and req.confidence == 0
    assert req.hint and req.hint.count("`") == 6


async def test_weak_rules_guess_survives_llm_none():
    text = "anything weird with the cluster?"
    rules = classify_text(text)
    assert rules.task_type and rules.confidence < CONFIDENCE_THRESHOLD
    model = ScriptedChatModel(responses=[answer("none", 0.4)])
    assert await classify(text, llm=model) == rules


async def test_llm_overrides_heuristic_rules_fields():
    text = "anything weird with the cluster for orders?"
    assert classify_text(text).context.get("service") == "orders"
    model = ScriptedChatModel(responses=[answer("kubernetes", 0.7, service="orders-api")])
    req = await classify(text, llm=model)
    assert req.context["service"] == "orders-api"


async def test_classify_llm_directly():
    model = ScriptedChatModel(responses=[answer("logs", 0.9, service="api", time_range="30m")])
    req = await classify_llm("logs please", model=model)
    assert req.task_type == "logs" and req.context == {"service": "api", "time_range": "30m"}
    model = ScriptedChatModel(responses=[answer("nope")])
    with pytest.raises(LLMTaskTypeError):
        await classify_llm("x", model=model)


def test_validation_drops_or_normalises_every_field():
    req = validate_llm_output(
        answer(
            "DEPLOY",
            7,
            action="nuke",
            service="Payment Service",
            environment="PRD",
            namespace="Bad_NS",
            image="not an image",
            image_tag="v1.2.3",
            replicas=-1,
            incident_id="inc 42",
            severity="SEV1",
            pipeline_name="checkout cd",
            repository="github.com/acme/api",
            environments=["dev", "Prod", "bogus"],
            time_range="last 2 hours",
        ),
        "text",
    )
    assert req.task_type == "deploy" and req.confidence == 1.0 and req.source == "llm"
    assert req.context == {
        "environment": "production",
        "image_tag": "v1.2.3",
        "incident_id": "INC-42",
        "severity": "critical",
        "repository": "https://github.com/acme/api",
        "environments": ["dev", "production"],
        "time_range": "2h",
    }
    for bad in ("payments_svc", "-web", "prod", "x" * 70, "pods"):
        assert "service" not in validate_llm_output(answer("kubernetes", service=bad), "t").context
    assert (
        validate_llm_output(answer("kubernetes", service="Web-2"), "t").context["service"]
        == "web-2"
    )
    assert validate_llm_output(answer("kubernetes", replicas=True), "t").context == {}


def test_redact():
    assert API_KEY not in redact(f"Incorrect API key provided: {API_KEY}")
    assert "abc.def" not in redact("Authorization: Bearer abc.def.ghijklmnop")


# --------------------------------------------------- real ChatOpenAI vs fake server


@pytest.fixture
def openai_server():
    server = FakeOpenAI().start()
    yield server
    server.stop()


async def test_chatopenai_low_confidence_path_uses_the_llm(openai_server):
    openai_server.enqueue(
        answer("incident_response", 0.77, service="orders", environment="stg", severity="p2")
    )
    model = build_openai_model(API_KEY, base_url=openai_server.base_url)
    req = await classify(VAGUE_NO_NS, llm=model)
    assert req.source == "llm" and req.task_type == "incident_response"
    assert req.context["environment"] == "staging" and req.context["severity"] == "high"
    assert len(openai_server.requests) == 1
    sent = openai_server.requests[0]
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.body["model"] == "gpt-4o-mini" and sent.body["temperature"] == 0
    assert sent.user_text() == VAGUE_NO_NS
    fmt = sent.response_format
    assert fmt["type"] == "json_schema"
    schema = fmt["json_schema"]["schema"]
    assert "incident_response" in schema["properties"]["task_type"]["enum"]


async def test_chatopenai_bad_task_type_is_rejected(openai_server):
    openai_server.enqueue(answer("make_coffee", 0.99, service="barista"))
    model = build_openai_model(API_KEY, base_url=openai_server.base_url)
    with capture_logs() as logs:
        req = await classify(VAGUE, llm=model)
    assert len(openai_server.requests) == 1
    assert req == classify_text(VAGUE)
    assert req.source != "llm" and "barista" not in str(req.context)
    assert logs[0]["error_type"] == "LLMTaskTypeError"


async def test_chatopenai_high_confidence_never_calls(openai_server):
    model = build_openai_model(API_KEY, base_url=openai_server.base_url)
    for text in (CLEAR, "deploy api-server:v1.2.3 prod", "show error logs of payment-service"):
        req = await classify(text, llm=model)
        assert req.source == "rules"
    assert openai_server.requests == []


async def test_chatopenai_http_error_falls_back_and_never_logs_the_key(openai_server):
    openai_server.enqueue_error(500, f"internal error for key {API_KEY}")
    model = build_openai_model(API_KEY, base_url=openai_server.base_url, max_retries=0)
    with capture_logs() as logs:
        req = await classify(VAGUE, llm=model)
    assert req == classify_text(VAGUE)
    assert len(openai_server.requests) == 1
    assert logs and logs[0]["event"] == "classify.llm_failed"
    assert API_KEY not in repr(logs)


async def test_chatopenai_timeout_falls_back(openai_server):
    openai_server.enqueue(answer("debug"), delay=3)
    model = build_openai_model(API_KEY, base_url=openai_server.base_url, timeout=0.3, max_retries=0)
    t0 = time.perf_counter()
    req = await classify(VAGUE, llm=model)
    assert time.perf_counter() - t0 < 2.5
    assert req == classify_text(VAGUE)


async def test_fake_server_also_answers_function_calling(openai_server):
    openai_server.enqueue(answer("logs", 0.6, service="web"))
    model = build_openai_model(API_KEY, base_url=openai_server.base_url)
    structured = model.with_structured_output(LLMClassification, method="function_calling")
    out = await structured.ainvoke("tail web logs")
    assert out.task_type == "logs" and out.service == "web"
    sent = openai_server.requests[0]
    assert sent.tools[0]["function"]["name"] == "LLMClassification"
    assert sent.body["tool_choice"]["function"]["name"] == "LLMClassification"


async def test_fake_server_fails_loudly_when_nothing_is_queued(openai_server):
    model = build_openai_model(API_KEY, base_url=openai_server.base_url, max_retries=0)
    with pytest.raises(Exception):  # noqa: B017 - any transport error
        await model.ainvoke("hello")


async def test_explicit_action_wins_and_foreign_rules_action_is_dropped():
    # action=... is explicit syntax: it wins over the model's action
    text = "action=restart something odd with orders"
    assert classify_text(text).confidence < CONFIDENCE_THRESHOLD
    model = ScriptedChatModel(responses=[answer("kubernetes", 0.7, action="status")])
    assert (await classify(text, llm=model)).context["action"] == "restart"
    # a heuristic verb picked for another task type is not carried over
    text = "anything weird with the cluster?"
    assert classify_text(text).context["action"] == "status"
    model = ScriptedChatModel(responses=[answer("debug", 0.7)])
    assert "action" not in (await classify(text, llm=model)).context


# ------------------------------------------------------- operations fields (LLM path)

OPS_FIELDS = (
    "metric",
    "metrics",
    "promql",
    "level",
    "search_term",
    "silence_id",
    "duration",
    "alert_name",
)


SILENCE_UUID = "8f4b1c2e-1111-2222-3333-444455556666"


def test_schema_has_the_operations_fields_with_descriptions():
    fields = LLMClassification.model_fields
    for name in OPS_FIELDS:
        assert name in fields and fields[name].description, name
        assert fields[name].default is None  # nullable: strict JSON schema still works
    assert "latency_p99" in fields["metric"].description
    assert "never a service" in fields["silence_id"].description


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"metric": "latency_p99"}, {"metric": "latency_p99"}),
        ({"metric": "P99"}, {}),  # not a named query
        (
            {"metrics": ["error_ratio", "bogus", "latency_p99", "error_ratio"]},
            {"metric": "error_ratio", "metrics": ["error_ratio", "latency_p99"]},
        ),
        (
            {"metric": "cpu", "metrics": ["memory", "cpu"]},
            {"metric": "cpu", "metrics": ["cpu", "memory"]},
        ),
        ({"metrics": ["cpu"]}, {"metric": "cpu"}),  # a list only when several
        ({"level": "WARNING"}, {"level": "warn"}),
        ({"level": "debug"}, {}),
        ({"search_term": " connection refused "}, {"search_term": "connection refused"}),
        ({"search_term": "x" * 201}, {}),
        ({"promql": " `sum(rate(x[5m]))` "}, {"promql": "sum(rate(x[5m]))"}),
        ({"silence_id": SILENCE_UUID}, {"silence_id": SILENCE_UUID}),
        ({"silence_id": "not an id!"}, {}),
        (
            {"silence_id": "1234-abcd", "service": "1234-abcd"},
            {"silence_id": "1234-abcd"},  # never also the service
        ),
        ({"duration": "2 hours"}, {"duration": "2h", "duration_minutes": 120}),
        ({"duration": "30s"}, {"duration": "30s"}),
        ({"alert_name": "HighLatency"}, {"alert_name": "HighLatency"}),
    ],
)
def test_validation_of_operations_fields(fields, expected):
    req = validate_llm_output(answer("alert", 0.8, **fields), "t")
    assert req.context == expected


def test_validation_keeps_metric_level_term_for_ops_tasks_only():
    fields = {"metric": "cpu", "level": "error", "search_term": "oom", "promql": "up"}
    assert validate_llm_output(answer("kubernetes", 0.8, **fields), "t").context == {"promql": "up"}
    assert validate_llm_output(answer("logs", 0.8, **fields), "t").context == {
        "metric": "cpu",
        "level": "error",
        "search_term": "oom",
        "promql": "up",
    }


UNSURE_K8S_WITH_METRIC = "anything weird with the cluster nodes memory?"


async def test_rules_ops_keys_fill_an_ops_answer():
    rules = classify_text(UNSURE_K8S_WITH_METRIC)
    assert rules.task_type == "kubernetes" and rules.confidence < CONFIDENCE_THRESHOLD
    assert "metric" not in rules.context
    model = ScriptedChatModel(responses=[answer("metrics", 0.8)])
    req = await classify(UNSURE_K8S_WITH_METRIC, llm=model)
    assert req.task_type == "metrics" and req.context["metric"] == "memory"
    # the model's own metric wins over the rules' guess
    model = ScriptedChatModel(responses=[answer("metrics", 0.8, metric="cpu")])
    req = await classify(UNSURE_K8S_WITH_METRIC, llm=model)
    assert req.context["metric"] == "cpu" and "metrics" not in req.context
    # not an ops answer: no metric
    model = ScriptedChatModel(responses=[answer("kubernetes", 0.8)])
    assert "metric" not in (await classify(UNSURE_K8S_WITH_METRIC, llm=model)).context


async def test_chatopenai_returns_the_operations_fields(openai_server):
    openai_server.enqueue(
        answer(
            "logs",
            0.8,
            service="orders",
            level="error",
            search_term="timeout",
            metric=None,
        )
    )
    model = build_openai_model(API_KEY, base_url=openai_server.base_url)
    req = await classify(VAGUE_NO_NS, llm=model)
    assert req.source == "llm" and req.task_type == "logs"
    assert req.context["level"] == "error" and req.context["search_term"] == "timeout"
    schema = openai_server.requests[0].response_format["json_schema"]["schema"]
    for name in OPS_FIELDS:
        assert name in schema["properties"], name
