"""Operations context read by the rules: metrics, PromQL, log level and search term,
silence ids and durations, and the actions of the monitoring and incident asks
(plus the follow-up remediation phrasing a Slack thread completes later).

Each table is (text, expected...); `ABSENT` tables are the negatives. Keys that only
the operations agents use (metric, metrics, level, search_term) are only ever set for
the operations task types.
"""

from __future__ import annotations

import typing

import pytest

from tests.test_classify import CASES, CONTEXT_CASES, HELD_OUT, HELD_OUT_LATER
from workflow.classify import ACTIONS, CONTEXT_KEYS, LOG_LEVELS, METRICS, OPS_TASK_TYPES
from workflow.classify.rules import analyse, classify_rules, duration_minutes, normalise_level
from workflow.routing import route_for

OPS_ONLY = ("metric", "metrics", "level", "search_term")
ALL_TEXTS = [c[0] for c in CASES + HELD_OUT + HELD_OUT_LATER] + [c[0] for c in CONTEXT_CASES]


def _ids(rows):
    return [r[0][:60] for r in rows]


# ------------------------------------------------------------------------- metrics

# (text, metric, metrics: the list when several are asked, else None)
METRIC_CASES: list[tuple[str, str, list[str] | None]] = [
    ("what is the p99 of checkout in prod", "latency_p99", None),
    ("99th percentile latency for search-api in prod", "latency_p99", None),
    ("p99 latency of checkout in the past 30 minutes", "latency_p99", None),
    ("latency p99 for checkout", "latency_p99", None),
    ("latency of payments in staging", "latency_p99", None),
    ("show me the response times of web", "latency_p99", None),
    ("p95 latency for orders-api", "latency_p95", None),
    ("p95 for orders-api in prod?", "latency_p95", None),
    ("95th percentile of ledger", "latency_p95", None),
    ("median latency of checkout", "latency_p50", None),
    ("p50 for web", "latency_p50", None),
    ("error rate of payment-service", "error_ratio", None),
    ("error ratio for checkout in prod", "error_ratio", None),
    ("graph 5xx rate for checkout since yesterday", "error_ratio", None),
    ("errors % for payments", "error_ratio", None),
    ("rps for checkout", "request_rate", None),
    ("request rate for api-gateway over the last 2h", "request_rate", None),
    ("traffic for checkout in prod", "request_rate", None),
    ("throughput of checkout in prod over the last day", "request_rate", None),
    ("qps of search", "request_rate", None),
    ("how many requests per second is checkout serving", "request_rate", None),
    ("cpu usage of web", "cpu", None),
    ("what was the peak cpu for search-api yesterday", "cpu", None),
    ("memory usage for orders in staging last 30 minutes", "memory", None),
    ("mem usage of web", "memory", None),
    ("ram of orders", "memory", None),
    ("restart count of checkout", "restarts", None),
    ("how many restarts for ledger in prod", "restarts", None),
    ("graph pod restarts for checkout", "restarts", None),
    ("error rate and p99 of checkout", "error_ratio", ["error_ratio", "latency_p99"]),
    ("p95 latency and error rate of orders", "latency_p95", ["latency_p95", "error_ratio"]),
    ("cpu and memory of checkout in staging", "cpu", ["cpu", "memory"]),
    ("rps, p50 and p99 for web", "request_rate", ["request_rate", "latency_p50", "latency_p99"]),
    ("latency is spiking on checkout in prod", "latency_p99", None),  # incident_agent too
    ("sev2: checkout error rate spiking in prod", "error_ratio", None),
]


@pytest.mark.parametrize(("text", "metric", "metrics"), METRIC_CASES, ids=_ids(METRIC_CASES))
def test_metric(text, metric, metrics):
    req = classify_rules(text)
    assert req.task_type in OPS_TASK_TYPES, req
    assert req.context.get("metric") == metric, req.context
    assert req.context.get("metrics") == metrics, req.context


METRIC_ABSENT = [
    "deploy api-server:v1.2.3 prod",
    "p90 latency of checkout",  # no such named query: never invent p99
    "average latency of checkout",
    "p99.9 of checkout",
    "increase the memory limit for checkout to 2Gi in prod",  # kubernetes: no metric
    "api-server ran out of memory",
    "checkout keeps restarting",
    "restart checkout in staging",
    "show error logs of payment-service",  # a log level, not the error ratio
    "any errors in the notification-worker logs?",
    "canary deploy checkout:v2.1 to 10% in prod, shift traffic",
    "scale checkout to 5 replicas in prod",
]


@pytest.mark.parametrize("text", METRIC_ABSENT)
def test_metric_absent(text):
    ctx = classify_rules(text).context
    assert "metric" not in ctx and "metrics" not in ctx, ctx


# -------------------------------------------------------------------------- PromQL

PROMQL_CASES: list[tuple[str, str]] = [
    ("promql sum(rate(http_requests_total[5m]))", "sum(rate(http_requests_total[5m]))"),
    ('run query `up{job="api"}`', 'up{job="api"}'),
    (
        'promql: sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) for checkout in prod',
        'sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))',
    ),
    (
        "run this promql `histogram_quantile(0.99, sum(rate(x_bucket[5m])) by (le))`",
        "histogram_quantile(0.99, sum(rate(x_bucket[5m])) by (le))",
    ),
    (
        'graph `rate(http_requests_total{service="checkout"}[5m])` over the last 6h',
        'rate(http_requests_total{service="checkout"}[5m])',
    ),
    # Slack escapes < > & in message text; the query is kept as the user typed it
    ('query up{job="api"} &lt; 1', 'up{job="api"} < 1'),
    ("<@U1> promql `job:http_requests:rate5m &gt; 100 * 2`", "job:http_requests:rate5m > 100 * 2"),
    ("promql up == 0 for checkout", "up == 0"),
    ("promql up", "up"),
    ("query http_requests_total", "http_requests_total"),
    ("what does the query `rate(x[5m])` return?", "rate(x[5m])"),
    ("promql `up{job=\u201capi\u201d}`", 'up{job="api"}'),  # autocorrected quotes
    ("promql sum(rate(x[5m])", "sum(rate(x[5m])"),  # unbalanced: kept to the end, as typed
]


@pytest.mark.parametrize(("text", "promql"), PROMQL_CASES, ids=_ids(PROMQL_CASES))
def test_promql(text, promql):
    a = analyse(text)
    assert a.context.get("promql") == promql, a.context
    assert a.task_type == "metrics" and a.context["action"] == "metrics"
    assert "promql" in a.certain
    assert "@promql" not in a.text and a.text  # the text sent on keeps the query


def test_promql_is_not_read_twice():
    ctx = classify_rules('graph `rate(http_requests_total{service="checkout"}[5m])`').context
    # the label matcher inside the query is not `service=checkout` syntax
    assert "service" not in ctx


PROMQL_ABSENT = [
    "run db query to count active users",
    "run query `select count(*) from users`",
    "run select count(*) from orders where status='failed' on the prod replica",
    "query the orders table for failed payments",
    "*deploy* `api-server:v1.2.4` to *staging* :rocket:",
    'logs for `{app="checkout"} |= "timeout"`',  # LogQL
    "explain promql functions",
    "kubectl logs deploy/checkout -n prod --since=1h",
    "what is the p99 of checkout in prod",
]


@pytest.mark.parametrize("text", PROMQL_ABSENT)
def test_promql_absent(text):
    assert "promql" not in classify_rules(text).context


# ----------------------------------------------------------------------- log level

LEVEL_CASES: list[tuple[str, str]] = [
    ("show the error logs of payment-service", "error"),
    ("show error logs of payment-service for the last 2h", "error"),
    ("any errors in the notification-worker logs?", "error"),
    ("errors in the logs for cart over the past hour", "error"),
    ("find ERROR lines in the billing logs since 9am", "error"),
    ("logs for checkout errors", "error"),
    ("warnings in checkout logs", "warn"),
    ("show warning logs for web", "warn"),
    ("logs at warn level for checkout", "warn"),
    ("logs for api level=warn", "warn"),
    ("logs for api lvl=WARNING", "warn"),
    ("show info logs for web", "info"),
    ("fatal logs of ledger in prod", "error"),
]


@pytest.mark.parametrize(("text", "level"), LEVEL_CASES, ids=_ids(LEVEL_CASES))
def test_level(text, level):
    req = classify_rules(text)
    assert req.task_type == "logs" and req.context["action"] == "logs", req
    assert req.context.get("level") == level, req.context


LEVEL_ABSENT = [
    "tail logs for api-server in staging",
    "show me 5xx logs from the ingress in the past 15m",
    "increase log level to debug for checkout",  # changes the level: kubernetes
    "error rate of checkout",
    "sev1: checkout errors spiking in prod",  # errors, but not a log ask
    "logs for checkout level=debug",  # not a level a log search filters by
]


@pytest.mark.parametrize("text", LEVEL_ABSENT)
def test_level_absent(text):
    assert "level" not in classify_rules(text).context


# --------------------------------------------------------------------- search term

# (text, search_term, service)
TERM_CASES: list[tuple[str, str, str | None]] = [
    ('logs of checkout containing "timeout"', "timeout", "checkout"),
    ("grep 'connection refused' in api-server logs", "connection refused", "api-server"),
    ("logs containing timeout for checkout", "timeout", "checkout"),
    ('logs of checkout matching "connection reset"', "connection reset", "checkout"),
    ("grep logs for timeout", "timeout", None),
    ("grep timeout in checkout logs", "timeout", "checkout"),
    ("grep -i oom checkout logs", "oom", "checkout"),
    ("grep checkout logs for timeout", "timeout", "checkout"),
    ("search kibana for NullPointerException in billing", "NullPointerException", "billing"),
    ("search logs for 'payment declined' in payments-api", "payment declined", "payments-api"),
    ("look for timeouts in checkout logs", "timeouts", "checkout"),
    ("logs of checkout with timeout", "timeout", "checkout"),
    ("find logs with trace id 4bf92f3577b34da6 in payments", "4bf92f3577b34da6", "payments"),
    ("show me logs where status=500 for orders in prod", "status=500", "orders"),
]


@pytest.mark.parametrize(("text", "term", "service"), TERM_CASES, ids=_ids(TERM_CASES))
def test_search_term(text, term, service):
    req = classify_rules(text)
    assert req.task_type == "logs", req
    assert req.context.get("search_term") == term, req.context
    assert req.context.get("service") == service, req.context


TERM_ABSENT = [
    "grep checkout logs",  # the service, not a term
    "tail logs for web in staging",
    "show logs with errors for web",  # a level
    "logs api-server prod",
    "kubectl get po -n payments-prod | grep -v Running",  # kubernetes
]


@pytest.mark.parametrize("text", TERM_ABSENT)
def test_search_term_absent(text):
    assert "search_term" not in classify_rules(text).context


def test_quoted_search_term_is_certain():
    a = analyse('logs of checkout containing "timeout"')
    assert "search_term" in a.certain
    a = analyse("grep logs for timeout")
    assert "search_term" not in a.certain


# ------------------------------------------------------------- silences, durations

UUID = "8f4b1c2e-1111-2222-3333-444455556666"

# (text, silence_id, action)
SILENCE_CASES: list[tuple[str, str, str]] = [
    ("expire silence 1234-abcd", "1234-abcd", "expire_silence"),
    (f"delete silence {UUID}", UUID, "expire_silence"),
    (f"unsilence {UUID}", UUID, "expire_silence"),
    (f"remove silence {UUID} in prod", UUID, "expire_silence"),
    (f"delete the silence with id {UUID}", UUID, "expire_silence"),
    ("expire silence abcd-efgh", "abcd-efgh", "expire_silence"),
    ("expire silence id abcd", "abcd", "expire_silence"),
    ("silence_id=abc-123 expire", "abc-123", "expire_silence"),
    ("cancel silence #5f2e9a10", "5f2e9a10", "expire_silence"),
    ("show silence id 1234-abcd", "1234-abcd", "alerts"),  # looked at, not created
]


@pytest.mark.parametrize(("text", "sid", "action"), SILENCE_CASES, ids=_ids(SILENCE_CASES))
def test_silence_id(text, sid, action):
    a = analyse(text)
    assert a.task_type == "alert", a
    assert a.context.get("silence_id") == sid, a.context
    assert a.context["action"] == action
    assert a.context.get("service") != sid.lower() and "silence_id" in a.certain


# a silence id is never a service; these name no silence id
SILENCE_ID_ABSENT: list[tuple[str, str, str | None]] = [
    ("unsilence payment-service", "expire_silence", "payment-service"),
    ("unsilence the checkout alerts", "expire_silence", "checkout"),
    ("expire silence HighLatency", "expire_silence", None),
    ("delete silence for checkout", "expire_silence", "checkout"),
    ("silence HighLatency for 2h", "silence", None),
    ("deploy silence-api v1.2 to prod", "deploy", "silence-api"),
]


@pytest.mark.parametrize(("text", "action", "service"), SILENCE_ID_ABSENT)
def test_silence_id_absent(text, action, service):
    ctx = classify_rules(text).context
    assert "silence_id" not in ctx
    assert ctx["action"] == action and ctx.get("service") == service, ctx


# (text, duration, duration_minutes or None)
DURATION_CASES: list[tuple[str, str, int | None]] = [
    ("silence HighLatency for 2h", "2h", 120),
    ("silence HighLatency for 30 minutes", "30m", 30),
    ("silence the HighLatency alert for 45 minutes", "45m", 45),
    ("mute the DiskPressure alert for 4 hours", "4h", 240),
    ("snooze the CPUThrottlingHigh alert on staging for an hour", "1h", 60),
    ("silence HighLatency for 1d", "24h", 1440),
    ("mute DiskPressure --duration 90m", "90m", 90),
    ("silence alertname=HighLatency duration=2h", "2h", 120),
    ("silence checkout alerts for 30 seconds", "30s", None),  # not whole minutes
]


@pytest.mark.parametrize(("text", "duration", "minutes"), DURATION_CASES, ids=_ids(DURATION_CASES))
def test_duration_minutes(text, duration, minutes):
    ctx = classify_rules(text).context
    assert ctx.get("duration") == duration, ctx
    assert ctx.get("duration_minutes") == minutes, ctx
    assert ctx["action"] == "silence"


def test_duration_minutes_helper():
    assert duration_minutes("2h") == 120 and duration_minutes("7d") == 7 * 1440
    assert duration_minutes("120s") == 2 and duration_minutes("90s") is None
    assert duration_minutes("2 hours") is None and duration_minutes(None) is None
    assert duration_minutes("0m") is None


def test_no_duration_minutes_without_a_duration():
    ctx = classify_rules("show error logs for checkout for the last 30 minutes").context
    assert "duration_minutes" not in ctx and ctx["time_range"] == "30m"


# ------------------------------------------------------------------------- actions

# (text, task_type, action, service)
ACTION_CASES: list[tuple[str, str, str, str | None]] = [
    # monitoring_agent
    ("what is the p99 of checkout in prod", "metrics", "metrics", "checkout"),
    ("promql sum(rate(http_requests_total[5m]))", "metrics", "metrics", None),
    ("show the error logs of payment-service", "logs", "logs", "payment-service"),
    ("which alerts are firing", "alert", "alerts", None),
    ("list alerts for checkout", "alert", "alerts", "checkout"),
    ("silence HighLatency for 2h", "alert", "silence", None),
    ("expire silence 1234-abcd", "alert", "expire_silence", None),
    ("unsilence the checkout alerts", "alert", "expire_silence", "checkout"),
    ("is checkout healthy?", "monitor", "health", "checkout"),
    ("is checkout healthy in prod?", "monitor", "health", "checkout"),
    ("is payment-service healthy", "monitor", "health", "payment-service"),
    ("health of checkout", "monitor", "health", "checkout"),
    ("check the health of checkout in prod", "monitor", "health", "checkout"),
    # incident_agent
    ("investigate checkout latency", "incident_response", "investigate", "checkout"),
    ("checkout is down in prod, dig in?", "incident_response", "investigate", "checkout"),
    ("what changed in the last hour?", "debug", "changes", None),
    ("what changed?", "debug", "changes", None),
    ("any recent deploys?", "debug", "changes", None),
    ("any recent changes to checkout", "debug", "changes", "checkout"),
    ("any recent deploys to payments-api?", "debug", "changes", "payments-api"),
    ("what changed in checkout in prod", "debug", "changes", "checkout"),
    ("what was deployed today in prod", "debug", "changes", None),
    ("checkout is down in prod, what changed?", "debug", "changes", "checkout"),
    ("postmortem", "incident", "postmortem", None),
    ("write the postmortem", "incident", "postmortem", None),
    ("incident summary", "incident", "postmortem", None),
    ("write up the incident", "incident", "postmortem", None),
    ("write the postmortem for INC-12345", "incident", "postmortem", None),
    ("write up the postmortem for INC-3310", "incident", "postmortem", None),
    ("need the postmortem doc for last night's outage", "incident", "postmortem", None),
    ("open an incident for the checkout outage", "incident", "create", "checkout"),
    # follow-ups without a service (the thread supplies it): kubernetes_agent
    ("roll it back", "kubernetes", "rollback", None),
    ("rollback", "kubernetes", "rollback", None),
    ("roll back", "kubernetes", "rollback", None),
    ("rollback please", "kubernetes", "rollback", None),
    ("roll that back please", "kubernetes", "rollback", None),
    ("revert it", "kubernetes", "rollback", None),
    ("revert the deploy", "kubernetes", "rollback", None),
    ("undo the last rollout", "kubernetes", "rollback", None),
    ("roll it back in prod", "kubernetes", "rollback", None),
    ("restart it", "kubernetes", "restart", None),
    ("bounce the pods", "kubernetes", "restart", None),
    ("scale it to 5", "kubernetes", "scale", None),
    # ... and with a service they stay what they were (deploy -> kubernetes_agent too)
    ("rollback api-server in production", "deploy", "rollback", "api-server"),
    ("rollback api-server in prod", "deploy", "rollback", "api-server"),
    ("roll back web", "deploy", "rollback", "web"),
    ("roll payments back to the previous release in prod", "deploy", "rollback", "payments"),
    ("revert the last deploy of checkout in prod", "deploy", "rollback", "checkout"),
    ("undo the last rollout of checkout in staging", "deploy", "rollback", "checkout"),
    ("kubectl rollout undo deployment/web -n prod", "deploy", "rollback", "web"),
    ("restart checkout in staging", "kubernetes", "restart", "checkout"),
    ("scale checkout to 5 replicas in prod", "kubernetes", "scale", "checkout"),
    ("rollback the last migration on billing-db", "migration", "rollback", "billing-db"),
    # left as they were: service status with kubernetes words or none
    ("how is checkout doing", "kubernetes", "status", "checkout"),
    ("status of checkout in prod", "kubernetes", "status", "checkout"),
    ("can you check if web is healthy in prod", "kubernetes", "status", "web"),
    ("are the payment pods healthy?", "kubernetes", "status", "payment"),
    ("health of the checkout deployment", "kubernetes", "status", "checkout"),
    ("is the cluster healthy?", "kubernetes", "status", None),
]


@pytest.mark.parametrize(
    ("text", "task", "action", "service"), ACTION_CASES, ids=_ids(ACTION_CASES)
)
def test_action(text, task, action, service):
    req = classify_rules(text)
    assert (req.task_type, req.context.get("action")) == (task, action), req
    assert req.context.get("service") == service, req.context


def test_rollback_follow_up_keeps_the_agent_of_a_rollback():
    # without a Harness pipeline both are kubernetes_agent's, as before
    for text in ("roll it back", "rollback api-server in production"):
        assert route_for(classify_rules(text).task_type).agent == "kubernetes_agent"
    req = classify_rules("roll it back to v1.8.2")
    assert req.task_type == "kubernetes" and req.context["image_tag"] == "v1.8.2"
    req = classify_rules("task=deploy rollback")  # an explicit task type is kept
    assert req.task_type == "deploy"


def test_lone_health_word_is_still_not_a_request():
    assert classify_rules("checkout health").task_type is None


# ------------------------------------------------------------- names and invariants

NOT_A_SERVICE = [
    ("what is the p99 of checkout in prod", "p99"),
    ("p99 for web", "p99"),
    ("show p95", "p95"),
    ("median latency of checkout", "median"),
    ("expire silence 1234-abcd", "1234-abcd"),
    (f"unsilence {UUID}", UUID),
    ("expire silence abcd-efgh", "abcd-efgh"),
    ("rps of checkout", "rps"),
    ("restart count of checkout", "count"),
    ("anything weird with the cluster? logs containing oom", "containing"),
    ("promql sum(rate(http_requests_total[5m]))", "promql"),
    ("search logs for timeout in payments-api", "search"),
]


@pytest.mark.parametrize(("text", "name"), NOT_A_SERVICE, ids=_ids(NOT_A_SERVICE))
def test_never_a_service(text, name):
    assert classify_rules(text).context.get("service") != name


def _all_rows():
    extra = [r[0] for r in METRIC_CASES + PROMQL_CASES + LEVEL_CASES + TERM_CASES]
    extra += [r[0] for r in SILENCE_CASES + DURATION_CASES + ACTION_CASES]
    return list(dict.fromkeys(ALL_TEXTS + extra + METRIC_ABSENT + PROMQL_ABSENT))


def test_ops_keys_only_for_ops_tasks_and_normalised():
    for text in _all_rows():
        req = classify_rules(text)
        ctx = req.context
        assert set(ctx) <= set(CONTEXT_KEYS), (text, ctx)
        if "action" in ctx:
            assert ctx["action"] in ACTIONS, (text, ctx)
        if req.task_type not in OPS_TASK_TYPES:
            assert not set(OPS_ONLY) & set(ctx), (text, req)
        if "metric" in ctx:
            assert ctx["metric"] in METRICS
        if "metrics" in ctx:
            assert len(ctx["metrics"]) >= 2 and ctx["metrics"][0] == ctx["metric"]
            assert set(ctx["metrics"]) <= set(METRICS)
            assert len(set(ctx["metrics"])) == len(ctx["metrics"])
        if "level" in ctx:
            assert ctx["level"] in LOG_LEVELS
        if "duration_minutes" in ctx:
            assert isinstance(ctx["duration_minutes"], int) and ctx["duration_minutes"] > 0


def test_ops_keys_kept_aside_for_the_llm_when_unsure():
    # kubernetes, unsure: the metric is not in the context but kept for the LLM merge
    a = analyse("anything weird with the cluster nodes memory?")
    assert a.task_type == "kubernetes" and a.confidence < 0.6
    assert "metric" not in a.context and a.ops == {"metric": "memory"}
    # sure, and not ops: nothing looked for
    assert analyse("increase the memory limit for checkout to 2Gi in prod").ops == {}


def test_metric_names_are_the_named_queries():
    from workflow.tools.logs import Level
    from workflow.tools.prometheus import NAMED_QUERIES

    assert set(METRICS) == set(NAMED_QUERIES)
    assert set(LOG_LEVELS) == set(typing.get_args(Level))


def test_normalise_level():
    assert [normalise_level(v) for v in ("ERROR", "errors", "warning", "Warn", "info")] == [
        "error",
        "error",
        "warn",
        "warn",
        "info",
    ]
    assert normalise_level("critical") == "error"
    assert normalise_level("debug") is None and normalise_level(None) is None
