"""Latency of the rules classifier on ~500 varied ChatOps texts.

    python benchmarks/classify_latency.py [--rounds 5]

Texts are generated from request templates x services x environments x Slack
decorations (mentions, emoji, links, kubectl flags), so they are varied but
deterministic. Prints p50 / p99 / max per call in microseconds and calls per second.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import time

from workflow.classify.rules import classify_rules

TEMPLATES = [
    "deploy {svc}:v1.{n}.3 to {env}",
    "ship {svc} v{n} to {env}",
    "rollback {svc} in {env}",
    "kubectl rollout undo deployment/{svc} -n {env}",
    "kubectl scale deployment/{svc} --replicas={n} -n {env}",
    "scale {svc} to {n} replicas in {env}",
    "restart {svc} in {env}",
    "kubectl rollout restart deploy/{svc} -n {env}",
    "show pods for {svc} in {env}",
    "status of {svc} in {env}",
    "create namespace {svc}-{env}",
    "provision a redis cluster for {svc} in {env}",
    "scaffold a new fastapi service called {svc}",
    "create a ci/cd pipeline for {svc} with dev, staging and prod",
    "set up pipeline for repo https://github.com/acme/{svc} with dev and prod",
    "generate a python client for {svc} from openapi.yaml",
    "create a migration adding email to {svc} users",
    "backup the {svc} database in {env}",
    "write integration tests for {svc}",
    "test coverage for {svc}",
    "set up monitoring for {svc}",
    "what's the p99 latency of {svc} in {env}",
    "error rate of {svc} over the last {n}h",
    "show error logs of {svc} in {env} since yesterday",
    "tail logs for {svc} in {env}",
    "which alerts are firing for {svc}",
    "silence HighLatency for {n}h",
    "{svc} is down in {env}, dig in?",
    "INC-{n}2345 sev{n} {svc} latency",
    "open an incident for the {svc} outage",
    "why is {svc} crashlooping in {env}",
    "debug OOMKilled pods in {svc}",
    "service={svc} env={env} image={svc}:v{n} replicas={n}",
    "what's for lunch",
    "hello",
]
SERVICES = ["api-server", "checkout", "payment-service", "orders-api", "web", "search", "ledger"]
ENVS = ["prod", "production", "staging", "stg", "dev", "prd"]
DECOR = [
    "{t}",
    "<@U123ABC> {t}",
    "<@U123ABC|devops-bot> please {t} :pray:",
    ":fire: {t} :fire:",
    "  {T}  ",
    "{t}?",
    "hey <!here> can you {t} <https://grafana.acme.io/d/x|dashboard>",
]


def corpus(size: int = 500, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    combos = list(itertools.product(TEMPLATES, SERVICES, ENVS, DECOR))
    rng.shuffle(combos)
    texts = []
    for template, svc, env, decor in combos[:size]:
        t = template.format(svc=svc, env=env, n=rng.randint(1, 9))
        texts.append(decor.format(t=t, T=t.upper() if rng.random() < 0.5 else t))
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=500)
    args = parser.parse_args()

    texts = corpus(args.size)
    for t in texts[:50]:  # warm up (regex caches, pydantic)
        classify_rules(t)
    samples: list[float] = []
    t_start = time.perf_counter()
    for _ in range(args.rounds):
        for t in texts:
            t0 = time.perf_counter_ns()
            classify_rules(t)
            samples.append((time.perf_counter_ns() - t0) / 1000)
    wall = time.perf_counter() - t_start
    samples.sort()
    q = statistics.quantiles(samples, n=100)
    classified = sum(classify_rules(t).task_type is not None for t in texts)
    print(f"texts: {len(texts)} distinct x {args.rounds} rounds = {len(samples)} calls")
    print(f"classified: {classified}/{len(texts)}")
    print(f"p50: {q[49]:8.1f} us")
    print(f"p99: {q[98]:8.1f} us")
    print(f"max: {samples[-1]:8.1f} us")
    print(f"mean: {statistics.fmean(samples):7.1f} us")
    print(f"throughput: {len(samples) / wall:,.0f} calls/s")


if __name__ == "__main__":
    main()
