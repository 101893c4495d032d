"""Rules classification of free ChatOps text.

`CASES` is the tuned table: requests written the way people type them in Slack, with
the agent they must reach (via `route_for(task_type).agent`, no Harness pipeline), the
service and the environment. `HELD_OUT` was written before the rules existed and is
only scored in aggregate (see `test_held_out_accuracy`), to keep an honest measure of
how the rules generalise.
"""

from __future__ import annotations

import pytest

from workflow.classify import CONFIDENCE_THRESHOLD, TaskRequest, classify_text
from workflow.classify.rules import analyse, classify_rules, clean_text
from workflow.routing import route_for

ANY = object()  # not asserted

K8S = "kubernetes_agent"
HARNESS = "harness_expert"
SCAFFOLD = "scaffold_agent"
CODEGEN = "codegen_agent"
DB = "database_agent"
TESTING = "testing_agent"
MON = "monitoring_agent"
INC = "incident_agent"

PROD, STG, DEV = "production", "staging", "dev"

# (text, agent, service, environment)
CASES: list[tuple[str, str, object, object]] = [
    # ---- deploy / rollback (kubernetes_agent without a Harness pipeline)
    ("deploy api-server:v1.2.3 prod", K8S, "api-server", PROD),
    ("ship checkout v2 to staging", K8S, "checkout", STG),
    ("release web 1.4.0 to production", K8S, "web", PROD),
    ("roll out payment-service:v3 in stg", K8S, "payment-service", STG),
    ("rollback api-server in prod", K8S, "api-server", PROD),
    ("roll back checkout on staging", K8S, "checkout", STG),
    ("kubectl rollout undo deployment/web -n prod", K8S, "web", PROD),
    ("promote api to prod", K8S, "api", PROD),
    ("<@U123ABC> deploy ghcr.io/acme/orders:1.4 to staging", K8S, "orders", STG),
    ("Deploy Cart-Service v2.3.1 to PROD", K8S, "cart-service", PROD),
    ("deploy search to dev", K8S, "search", DEV),
    ("can you deploy billing-api:2024.06.01 to staging please", K8S, "billing-api", STG),
    ("redeploy notifications in staging", K8S, "notifications", STG),
    ("please roll back payments to v1.8.2 in production", K8S, "payments", PROD),
    ("revert the last deploy of checkout in prod", K8S, "checkout", PROD),
    ("helm upgrade ingress-nginx in staging", K8S, "ingress-nginx", STG),
    ("kubectl set image deployment/web web=web:v2 -n staging", K8S, "web", STG),
    ("ship it: orders-api:v5.0.0 -> prod", K8S, "orders-api", PROD),
    (
        "deploy service=inventory image=registry.acme.io/inventory:7.1.0 env=stg",
        K8S,
        "inventory",
        STG,
    ),
    ("promote search-api from staging to production", K8S, "search-api", PROD),
    ("canary deploy checkout:v2.1 to 10% in prod", K8S, "checkout", PROD),
    ("release v3.2.0 of pricing to staging", K8S, "pricing", STG),
    ("deploy latest main of frontend to dev", K8S, "frontend", DEV),
    ("roll back web", K8S, "web", None),
    ("undo the last rollout of checkout in staging", K8S, "checkout", STG),
    ("*deploy* `api-server:v1.2.4` to *staging* :rocket:", K8S, "api-server", STG),
    ("DEPLOY ORDERS-API:V2.0.0 TO PROD", K8S, "orders-api", PROD),
    ("deploy checkout to prod <#C012AB|releases>", K8S, "checkout", PROD),
    ("rollback api-server in prod?", K8S, "api-server", PROD),
    ("ship web:2.8.1 to prd", K8S, "web", PROD),
    ("push the new build of cart to production", K8S, "cart", PROD),
    ("roll payments back to the previous release in prod", K8S, "payments", PROD),
    # ---- kubernetes operations
    ("kubectl scale deployment/web --replicas=3 -n prod", K8S, "web", PROD),
    ("scale checkout to 5 replicas in prod", K8S, "checkout", PROD),
    ("scale down api-server to 0 in dev", K8S, "api-server", DEV),
    ("restart checkout in staging", K8S, "checkout", STG),
    ("kubectl rollout restart deploy/checkout -n staging", K8S, "checkout", STG),
    ("bounce the payment-service pods in prod", K8S, "payment-service", PROD),
    ("delete deployment legacy-worker in dev", K8S, "legacy-worker", DEV),
    ("show pods for checkout", K8S, "checkout", None),
    ("status of api-server in prod", K8S, "api-server", PROD),
    ("describe deployment web", K8S, "web", None),
    ("kubectl get pods -n prod", K8S, None, PROD),
    ("cordon node ip-10-0-1-23.ec2.internal", K8S, None, None),
    ("what's running in staging?", K8S, None, STG),
    ("drain node worker-7 for maintenance", K8S, None, None),
    ("get deployments in the payments namespace", K8S, None, None),
    ("how many replicas does checkout have in prod", K8S, "checkout", PROD),
    ("scale web to 10", K8S, "web", None),
    ("restart the api-gateway deployment in prod", K8S, "api-gateway", PROD),
    ("kill pod checkout-7d9f8c6b5-x2k4q -n staging", K8S, "checkout", STG),
    ("what version of payments is running in prod?", K8S, "payments", PROD),
    ("restart all pods for orders in dev", K8S, "orders", DEV),
    ("scale deploy/worker --replicas 6 -n stg", K8S, "worker", STG),
    ("uncordon node gke-prod-pool-1-abc", K8S, None, None),
    ("delete pod web-5f6d7c8b9-abcde in prod", K8S, "web", PROD),
    ("show me the events for deployment/checkout", K8S, "checkout", None),
    ("is api-server up in staging?", K8S, "api-server", STG),
    ("rollout status deploy/api -n prod", K8S, "api", PROD),
    ("get hpa for checkout in prod", K8S, "checkout", PROD),
    ("scale the search deployment up to 8 pods", K8S, "search", None),
    ("restart redis in staging", K8S, "redis", STG),
    ("show me what's deployed in prod", K8S, None, PROD),
    ("<@U123ABC|devops-bot> restart checkout -n prod", K8S, "checkout", PROD),
    ("   restart    web   in   dev   ", K8S, "web", DEV),
    ("restart web -n prod", K8S, "web", PROD),
    (
        "hey <@U0DEVOPS> can you scale <https://grafana.acme.io/d/abc|web> to 4 in prod?",
        K8S,
        "web",
        PROD,
    ),
    ("service=billing env=staging replicas=4", K8S, "billing", STG),
    ("Scale Orders-API to 3 in PRD", K8S, "orders-api", PROD),
    ("describe statefulset kafka -n data", K8S, "kafka", None),
    ("recycle the checkout pods in staging", K8S, "checkout", STG),
    ("delete the failed jobs in namespace batch", K8S, None, None),
    # ---- provision
    ("create namespace team-a", K8S, None, None),
    ("provision a namespace for payments in staging", K8S, "payments", STG),
    ("provision a new eks cluster for data-platform in dev", K8S, "data-platform", DEV),
    ("spin up an s3 bucket for ml-artifacts", K8S, ANY, None),
    ("terraform a new vpc in staging", K8S, None, STG),
    ("create a preview environment for checkout", K8S, "checkout", None),
    ("provision infra for the new billing service", K8S, ANY, None),
    ("need a new namespace called orders-dev", K8S, None, DEV),
    ("provision a postgres rds instance for orders in prod", K8S, "orders", PROD),
    ("provision a redis cluster for sessions in staging", K8S, "sessions", STG),
    # ---- scaffold
    ("scaffold a new fastapi service called orders", SCAFFOLD, "orders", None),
    ("bootstrap a repo for the notifications team", SCAFFOLD, None, None),
    ("new project template for a go microservice", SCAFFOLD, None, None),
    ("scaffold a react frontend named admin-portal", SCAFFOLD, "admin-portal", None),
    (
        "create a new python service called fraud-detector from the standard template",
        SCAFFOLD,
        "fraud-detector",
        None,
    ),
    ("bootstrap a spring boot app called ledger", SCAFFOLD, "ledger", None),
    (
        "set up a new repo for inventory-sync using our node template",
        SCAFFOLD,
        "inventory-sync",
        None,
    ),
    ("scaffold a cli tool named kctx-helper", SCAFFOLD, "kctx-helper", None),
    ("bootstrap a new microservice called loyalty from the go template", SCAFFOLD, "loyalty", None),
    # ---- pipeline (harness_expert)
    ("create a ci/cd pipeline for microservice", HARNESS, None, None),
    (
        "set up pipeline for repo https://github.com/acme/checkout with dev, staging and prod",
        HARNESS,
        None,
        None,
    ),
    ("create a harness pipeline for payments-api", HARNESS, "payments-api", None),
    ("add a prod stage to the orders pipeline", HARNESS, "orders", PROD),
    ("trigger the checkout-deploy pipeline", HARNESS, ANY, None),
    (
        "set up github actions for <https://github.com/acme/web|github.com/acme/web>",
        HARNESS,
        None,
        None,
    ),
    (
        "create a deployment pipeline for api-gateway with staging and prod",
        HARNESS,
        "api-gateway",
        ANY,
    ),
    ("update the harness pipeline for search to add a dev stage", HARNESS, "search", DEV),
    ("rerun the build pipeline for orders", HARNESS, "orders", None),
    ("new jenkins job for billing", HARNESS, "billing", None),
    ("what's the status of the release pipeline for web?", HARNESS, "web", None),
    ("pipeline=checkout-cd repo=acme/checkout envs=dev,staging,prod create", HARNESS, None, None),
    ("harness pipeline for the ledger service", HARNESS, ANY, None),
    ("add a manual approval step before prod in the checkout pipeline", HARNESS, "checkout", PROD),
    # ---- codegen
    ("generate a python client from openapi.yaml", CODEGEN, None, None),
    ("generate models for the billing api", CODEGEN, "billing", None),
    ("codegen typescript types from the orders graphql schema", CODEGEN, ANY, None),
    ("generate grpc stubs for inventory in go", CODEGEN, "inventory", None),
    ("write a go client for the payments api", CODEGEN, "payments", None),
    ("generate crud handlers for the orders table", CODEGEN, ANY, None),
    ("generate an sdk from swagger.json for partners-api", CODEGEN, "partners-api", None),
    ("codegen", CODEGEN, None, None),
    ("generate protobuf bindings for ledger-events", CODEGEN, "ledger-events", None),
    # ---- database / schema / migration
    ("create a migration adding email to users", DB, None, None),
    ("design a schema for orders", DB, "orders", None),
    ("backup the orders database", DB, ANY, None),
    ("run db query to count active users", DB, None, None),
    ("restore the billing db from last night's snapshot in staging", DB, ANY, STG),
    ("write an alembic migration to drop the legacy_flag column", DB, None, None),
    ("vacuum the events table in prod", DB, ANY, PROD),
    ("what tables are in the payments db?", DB, ANY, None),
    ("generate a flyway migration to rename customer_id", DB, None, None),
    ("design the data model for the subscriptions feature", DB, ANY, None),
    ("dump the users table from staging postgres", DB, ANY, STG),
    ("rollback the last migration on billing-db", DB, ANY, None),
    ("take a backup of the postgres db for checkout in prod", DB, "checkout", PROD),
    ("run select count(*) from orders where status='failed' on the prod replica", DB, ANY, PROD),
    ("apply pending migrations for accounts in staging", DB, "accounts", STG),
    # ---- tests
    ("write tests for checkout", TESTING, "checkout", None),
    ("run the integration tests", TESTING, None, None),
    ("test coverage for api-server", TESTING, "api-server", None),
    ("generate unit tests for the payment-processor module", TESTING, ANY, None),
    ("run e2e tests against staging", TESTING, None, STG),
    ("why are the checkout tests flaky", TESTING, "checkout", None),
    ("add integration tests for orders-api", TESTING, "orders-api", None),
    ("what's the coverage on the billing service", TESTING, ANY, None),
    ("load test search-api with k6", TESTING, ANY, None),
    ("pytest is failing on the auth module", TESTING, ANY, None),
    ("run the smoke tests for web in staging", TESTING, "web", STG),
    # ---- monitoring / metrics / logs / alerts
    ("monitor checkout", MON, "checkout", None),
    ("set up monitoring for payment-gateway", MON, "payment-gateway", None),
    ("create a grafana dashboard for orders-api latency", MON, "orders-api", None),
    ("add an SLO for checkout availability", MON, "checkout", None),
    ("watch api-server in prod for the next hour", MON, "api-server", PROD),
    ("what's the p99 latency of checkout in prod", MON, "checkout", PROD),
    ("error rate of payment-service", MON, "payment-service", None),
    ("cpu usage of web", MON, "web", None),
    ("show me request rate for api-gateway over the last 2h", MON, "api-gateway", None),
    ("memory usage for orders in staging last 30 minutes", MON, "orders", STG),
    ("graph 5xx rate for checkout since yesterday", MON, "checkout", None),
    ("kubectl top pods -n prod", MON, None, PROD),
    ("how much memory is the search deployment using", MON, "search", None),
    ("p95 for orders-api in prod?", MON, "orders-api", PROD),
    ("show error logs of payment-service", MON, "payment-service", None),
    ("tail logs for api-server in staging", MON, "api-server", STG),
    ("grep logs for timeout", MON, None, None),
    ("kubectl logs deploy/checkout -n prod --since=1h", MON, "checkout", PROD),
    ("logs for orders in prod last 15m", MON, "orders", PROD),
    ("search kibana for NullPointerException in billing", MON, ANY, None),
    ("show me the last 100 lines of logs for web", MON, "web", None),
    ("any errors in the notification-worker logs?", MON, "notification-worker", None),
    ("pull logs from the ingress controller in prod for the past hour", MON, ANY, PROD),
    ("logs api-server prod", MON, "api-server", PROD),
    ("which alerts are firing", MON, None, None),
    ("silence HighLatency for 2h", MON, None, None),
    ("list alerts for checkout", MON, "checkout", None),
    ("ack the alert", MON, None, None),
    ("mute alerts for orders-api during the maintenance window", MON, "orders-api", None),
    ("create an alert for error rate > 5% on checkout", MON, "checkout", None),
    ("what fired overnight in prod?", MON, None, PROD),
    ("silence all alerts for namespace team-b for 30m", MON, None, None),
    ("show firing alerts in staging", MON, None, STG),
    ("throughput of checkout in prod over the last day", MON, "checkout", PROD),
    ("dashboards for payments please :pray:", MON, "payments", None),
    # ---- incident response / incident management / debugging (incident_agent)
    ("checkout is down in prod, dig in?", INC, "checkout", PROD),
    ("INC-12345 sev1 payment service latency", INC, "payment-service", None),
    ("Investigate payment service latency", INC, "payment-service", None),
    ("we have an outage", INC, None, None),
    (":fire: api-gateway returning 503s in production :fire:", INC, "api-gateway", PROD),
    ("latency is spiking on checkout in prod", INC, "checkout", PROD),
    ("customers are reporting failed payments", INC, ANY, None),
    ("orders-api is really slow in staging, can someone take a look", INC, "orders-api", STG),
    ("elevated 5xx on search since 10:30", INC, "search", None),
    ("p1: login failing for all users", INC, ANY, None),
    ("web is unreachable from the eu region", INC, "web", None),
    ("<!here> payments down in prod", INC, "payments", PROD),
    ("open an incident for the checkout outage", INC, "checkout", None),
    ("declare a sev2 incident for payments", INC, "payments", None),
    ("incident status for INC-4521", INC, None, None),
    ("write the postmortem for INC-12345", INC, None, None),
    ("page the on-call for search", INC, "search", None),
    ("who is on call for payments?", INC, "payments", None),
    ("resolve INC-2231", INC, None, None),
    ("escalate INC-3002 to the database team", INC, None, None),
    ("why is checkout crashlooping", INC, "checkout", None),
    ("debug OOMKilled pods in api-server", INC, "api-server", None),
    ("troubleshoot 500s on web", INC, "web", None),
    ("pods keep restarting in staging", INC, None, STG),
    ("orders-api pods stuck in Pending in prod", INC, "orders-api", PROD),
    ("why did the deploy of web fail in staging?", INC, "web", STG),
    ("checkout deployment failing readiness probe", INC, "checkout", None),
    ("image pull errors for billing in dev", INC, "billing", DEV),
    ("build pipeline broken for orders", INC, "orders", None),
    ("why is the payments pod in CrashLoopBackOff", INC, "payments", None),
    ("api-server keeps getting OOMKilled after the last release", INC, "api-server", None),
    ("what's wrong with the search deployment in prod", INC, "search", PROD),
    ("nginx-ingress returning 404 for /api/v2", INC, "nginx-ingress", None),
    ("sev2: checkout error rate spiking in prod :rotating_light:", INC, "checkout", PROD),
    ("users can't log in on staging", INC, None, STG),
    ("the deploy to prod failed for cart, what happened?", INC, "cart", PROD),
    # ---- phrasings reviewed while exploring (tuned)
    ("pause the rollout of web", K8S, "web", None),
    ("freeze deploys to prod until monday", K8S, None, PROD),
    ("open a PR to bump checkout to v2", K8S, "checkout", None),
    ("add a readiness probe to checkout", K8S, ANY, None),
    ("apply the helm chart for redis in dev", K8S, "redis", DEV),
    ("increase log level to debug for checkout", K8S, "checkout", None),
    ("enable debug logging for payments in staging", K8S, "payments", STG),
    ("show me the deployment history of web", K8S, "web", None),
    ("how's prod looking?", K8S, None, PROD),
    ("give me a status report for staging", K8S, None, STG),
    ("make checkout 3 replicas", K8S, "checkout", None),
    ("bump web to v1.4.2 in staging", K8S, "web", STG),
    ("is the deploy done?", K8S, None, None),
    ("what's the latest version of checkout in prod", K8S, "checkout", PROD),
    ("kill the stuck job in batch namespace", K8S, None, None),
    ("get me a shell in the api pod", K8S, "api", None),
    ("stop the web deployment", K8S, "web", None),
    ("can you check if web is healthy in prod", K8S, "web", PROD),
    ("write a helm chart for orders", CODEGEN, "orders", None),
    ("queue depth on orders-queue is growing", MON, "orders-queue", None),
    ("top 5 slowest endpoints on checkout", MON, "checkout", None),
    ("SLA report for last month", MON, None, None),
    ("traces for checkout errors", MON, "checkout", None),
    ("flush the redis cache in staging", DB, None, STG),
    ("who broke the build?", INC, None, None),
    ("prod is on fire", INC, None, PROD),
    ("can't reach grafana", INC, None, None),
    ("payment failures in prod", INC, None, PROD),
    ("we got paged for checkout latency", INC, "checkout", None),
    ("disk full on node-3 in prod", INC, None, PROD),
]

# Written before the rules existed; scored in aggregate only. First run (before any
# tuning): agent 44/44, agent+service+environment 35/44.
HELD_OUT: list[tuple[str, str | None, object, object]] = [
    ("<@U02ABCDEF> pls deploy orders-api v4.2.1 to stg", K8S, "orders-api", STG),
    ("can we get inventory bumped to 6 replicas in prod?", K8S, "inventory", PROD),
    ("bounce the notification-worker pods on staging", K8S, "notification-worker", STG),
    ("kubectl -n prod get deploy/search -o wide", K8S, "search", PROD),
    ("roll back cart to the previous version in production", K8S, "cart", PROD),
    ("how many pods are running for ledger in prod", K8S, "ledger", PROD),
    ("spin up a new namespace for the data-platform team in staging", K8S, ANY, STG),
    ("terraform an s3 bucket for ml-artifacts", K8S, ANY, None),
    ("scaffold a go grpc service named fraud-scorer", SCAFFOLD, "fraud-scorer", None),
    (
        "bootstrap a new node.js repo for the webhooks service from our template",
        SCAFFOLD,
        "webhooks",
        None,
    ),
    (
        "set up a harness pipeline for github.com/acme/billing with dev and prod stages",
        HARNESS,
        ANY,
        ANY,
    ),
    ("add a staging stage to the checkout ci pipeline", HARNESS, "checkout", ANY),
    ("trigger the release pipeline for api-gateway", HARNESS, "api-gateway", None),
    ("generate a typescript sdk from the payments openapi spec", CODEGEN, ANY, None),
    ("codegen grpc stubs from proto/ledger.proto", CODEGEN, ANY, None),
    ("write an alembic migration to add a status column to orders", DB, ANY, None),
    ("what indexes should the events table have? design the schema", DB, ANY, None),
    ("take a snapshot of the billing postgres before the release", DB, ANY, None),
    (
        "add unit tests for the refund handler in payments-service",
        TESTING,
        "payments-service",
        None,
    ),
    ("run the e2e suite against staging", TESTING, None, STG),
    ("what's our test coverage on auth-service?", TESTING, "auth-service", None),
    ("create a grafana dashboard for search-api", MON, "search-api", None),
    ("p95 latency for checkout over the last 6 hours", MON, "checkout", None),
    ("how much memory is ledger using in prod", MON, "ledger", PROD),
    ("show me 5xx logs from the ingress in the past 15m", MON, ANY, None),
    ("tail logs deploy/worker -n staging", MON, "worker", STG),
    ("what alerts fired overnight for payments?", MON, "payments", None),
    ("mute the DiskPressure alert for 4 hours", MON, None, None),
    ("checkout is throwing 502s in prod :rotating_light:", INC, "checkout", PROD),
    ("INC-4821 p1 - login failures spiking", INC, ANY, None),
    (
        "we're seeing elevated error rates on the payment gateway in production, can someone look?",
        INC,
        ANY,
        PROD,
    ),
    ("declare an incident for the search outage", INC, "search", None),
    ("write up the postmortem for INC-3310", INC, None, None),
    ("who's on call for platform right now? need to page them", INC, ANY, None),
    ("why does orders-api keep getting OOMKilled", INC, "orders-api", None),
    ("notifications pods stuck in ImagePullBackOff on dev", INC, "notifications", DEV),
    ("debug the failing readiness probe on web in staging", INC, "web", STG),
    ("the deploy of cart to prod failed, what happened?", INC, "cart", PROD),
    ("hey", None, None, None),
    ("thanks!", None, None, None),
    ("what's the weather in berlin", None, None, None),
    ("promote search-api from stg to prd", K8S, "search-api", PROD),
    ("cordon node ip-10-0-3-12", K8S, None, None),
    ("service=billing env=staging replicas=2 scale", K8S, "billing", STG),
]


# Each later set was written fresh before the tuning round that followed it, and scored
# once before any change (numbers below). Failures they exposed were fixed only where the
# cause was general, so from the round after its own they are no longer truly held out.
HELD_OUT_LATER: list[tuple[str, str | None, object, object]] = [
    # set 2: written after the first tuning round; first run: agent 36/42, full 34/42
    ("yo can someone restart the cart-api pods in prd", K8S, "cart-api", PROD),
    ("scale ingest-worker horizontally to 12", K8S, "ingest-worker", None),
    ("roll back the search release in staging, it broke autocomplete", K8S, "search", STG),
    ("deploy tag 2024-06-12 of the ledger api to dev", K8S, "ledger", DEV),
    ("need payments-worker on v3.4.0 in production asap", K8S, "payments-worker", PROD),
    ("what image is checkout running in prod?", K8S, "checkout", PROD),
    ("delete the stale review-app-1234 namespace", K8S, None, None),
    ("cordon and drain ip-10-2-4-8 before the kernel upgrade", K8S, None, None),
    ("create a bucket for terraform state in the prod account", K8S, ANY, PROD),
    ("new k8s namespace for analytics team, dev and staging", K8S, ANY, ANY),
    ("kick off a new service repo for document-parser", SCAFFOLD, "document-parser", None),
    ("init a typescript lambda project called thumbnailer", SCAFFOLD, "thumbnailer", None),
    ("our checkout pipeline needs a security scan stage", HARNESS, "checkout", None),
    (
        "make a harness pipeline that deploys notifications to dev then prod",
        HARNESS,
        "notifications",
        ANY,
    ),
    ("set up ci for acme/ledger", HARNESS, ANY, None),
    ("create typescript bindings from events.proto", CODEGEN, None, None),
    ("generate a go sdk for the public api from openapi v3 spec", CODEGEN, ANY, None),
    ("add a nullable shipped_at column to the orders table", DB, None, None),
    ("restore yesterday's backup of inventory-db to staging", DB, ANY, STG),
    ("how big is the events table in the analytics db", DB, ANY, None),
    (
        "write integration tests for the kafka consumer in billing-worker",
        TESTING,
        "billing-worker",
        None,
    ),
    ("tests are flaky on main for api-gateway, can you look", TESTING, "api-gateway", None),
    ("run the regression suite for checkout before release", TESTING, "checkout", None),
    ("add a dashboard panel for queue depth of ingest-worker", MON, "ingest-worker", None),
    ("what's the error rate for auth in prod right now", MON, "auth", PROD),
    ("memory graph for checkout pods last 24h", MON, "checkout", None),
    ("find logs with trace id 4bf92f3577b34da6 in payments", MON, ANY, None),
    ("show logs from the cron job in staging", MON, ANY, STG),
    ("is there any alert firing for ledger?", MON, "ledger", None),
    ("snooze the CPUThrottlingHigh alert on staging for 1h", MON, None, STG),
    ("search is returning 500s for everyone", INC, "search", None),
    ("major outage: eu-west checkout unreachable", INC, ANY, None),
    ("INC-9001 update: mitigated by scaling checkout, need RCA", INC, ANY, None),
    ("page whoever is on call for the data team", INC, None, None),
    ("start a sev1 incident, payments are failing in prod", INC, ANY, PROD),
    ("why is cart-api returning 504s since the last deploy", INC, "cart-api", None),
    ("pods for billing are Pending forever in staging, what's up", INC, "billing", STG),
    ("fix the crashlooping ledger-worker in dev", INC, "ledger-worker", DEV),
    ("good morning team", None, None, None),
    ("can you order pizza for the team", None, None, None),
    ("lunch?", None, None, None),
    ("ack INC-7788", INC, None, None),
    # set 3: written after the second round; first run: agent 38/41, full 31/41
    (
        "hey team, can we get checkout rolled back to yesterday's build in prod?",
        K8S,
        "checkout",
        PROD,
    ),
    ("please restart every pod of the ledger statefulset in staging", K8S, "ledger", STG),
    ("bump replicas for search-indexer to 4 in dev", K8S, "search-indexer", DEV),
    ("what's the rollout status of orders-api in staging", K8S, "orders-api", STG),
    ("kubectl describe pod payments-6c9d8f7b4-q8w2n -n prod", K8S, "payments", PROD),
    ("hotfix 2.3.5 of web needs to go to production now", K8S, "web", PROD),
    ("release api-gateway:2.0.0-rc.1 to uat", K8S, "api-gateway", STG),
    ("tear down the perf-test namespace", K8S, None, None),
    ("spin up a fresh staging environment for the q3-launch branch", K8S, ANY, STG),
    ("provision a gke cluster in dev for the ml team", K8S, ANY, DEV),
    ("scaffold a python worker service named invoice-sender", SCAFFOLD, "invoice-sender", None),
    (
        "I need a new repo with our standard go template for rate-limiter",
        SCAFFOLD,
        "rate-limiter",
        None,
    ),
    ("hook up the orders repo to harness with a staging and prod pipeline", HARNESS, "orders", ANY),
    ("the nightly pipeline for reports keeps failing", INC, "reports", None),
    ("add slack notifications to the checkout deploy pipeline", HARNESS, "checkout", None),
    ("generate a java client for the inventory openapi", CODEGEN, "inventory", None),
    ("codegen the graphql resolvers for catalog", CODEGEN, "catalog", None),
    ("create the tables for the new loyalty feature, postgres", DB, ANY, None),
    ("migrate the users table to add a last_login column", DB, None, None),
    ("run an explain on the slow orders query", DB, ANY, None),
    ("write contract tests between checkout and payments", TESTING, "checkout", None),
    ("which tests are failing on the api-server build", TESTING, "api-server", None),
    ("increase test coverage for ledger to 80%", TESTING, "ledger", None),
    ("set up alerts + a dashboard for the new fraud-detector service", MON, "fraud-detector", None),
    ("p99 of search-api in prod since yesterday?", MON, "search-api", PROD),
    ("how many requests per second is checkout serving", MON, "checkout", None),
    ("errors in the logs for cart over the past hour", MON, "cart", None),
    ("stream logs from pod/api-7f8d9c6b5-zx9kl", MON, "api", None),
    ("list all critical alerts in prod", MON, None, PROD),
    ("silence the KubePodCrashLooping alert for billing for 1h", MON, "billing", None),
    ("checkout is down!!!", INC, "checkout", None),
    (
        "we're getting a ton of 503s from payments-api in prod :rotating_light:",
        INC,
        "payments-api",
        PROD,
    ),
    ("sev2 - search latency degraded in staging", INC, "search", STG),
    ("kick off an incident for the login outage", INC, ANY, None),
    ("need the postmortem doc for last night's outage", INC, None, None),
    ("why does ledger-worker exit with code 137", INC, "ledger-worker", None),
    ("pods in CrashLoopBackOff for orders in staging", INC, "orders", STG),
    ("debug why web can't connect to redis in dev", INC, "web", DEV),
    ("what's for dinner", None, None, None),
    ("nice work everyone :tada:", None, None, None),
    ("ok thanks, that worked", None, None, None),
    # set 4: written after the third round; first run: agent 26/30, full 24/30
    (
        "Could you please take a look at why the checkout pods in prod are restarting every"
        " few minutes?",
        INC,
        "checkout",
        PROD,
    ),
    (
        "hi! I'd like to deploy the new version of notification-service (v2.4.0) to staging",
        K8S,
        "notification-service",
        STG,
    ),
    ("rollback needed: payments v1.9.0 broke refunds in production", K8S, "payments", PROD),
    ("kubectl get po -n payments-prod | grep -v Running", K8S, None, PROD),
    ("How do I scale the worker deployment to handle more load?", K8S, "worker", None),
    ("api is 502ing for some users in eu, started ~10 min ago", INC, "api", None),
    (
        "Please create a pipeline in Harness for the new ledger repo with dev -> staging -> prod",
        HARNESS,
        "ledger",
        ANY,
    ),
    (
        "can you generate the typescript client for orders from its openapi spec",
        CODEGEN,
        "orders",
        None,
    ),
    ("we need a migration to backfill customer_region on accounts", DB, ANY, None),
    ("run load tests against checkout in staging with 500 rps", TESTING, "checkout", STG),
    ("set up a grafana alert when checkout error rate exceeds 2%", MON, "checkout", None),
    ("what was the peak cpu for search-api yesterday", MON, "search-api", None),
    ("show me logs where status=500 for orders in prod", MON, "orders", PROD),
    ("anything interesting in ledger's logs in the last 10 minutes?", MON, "ledger", None),
    ("ack PagerDuty alert for checkout latency", MON, "checkout", None),
    ("declare incident: payments degraded, sev2", INC, "payments", None),
    ("who's the incident commander for INC-5521?", INC, None, None),
    ("pods for cart-api are OOMKilled after the 3.1 rollout", INC, "cart-api", None),
    ("troubleshoot DNS resolution failures in the dev cluster", INC, None, DEV),
    ("scaffold an internal tool called release-notes-bot", SCAFFOLD, "release-notes-bot", None),
    ("create a new namespace and service account for the etl team in staging", K8S, ANY, STG),
    ("restart the nginx ingress controller in prod", K8S, ANY, PROD),
    ("roll out the config change for feature-flags service to dev", K8S, "feature-flags", DEV),
    ("what's the status of the checkout deploy to prod", K8S, "checkout", PROD),
    ("write a k6 load test for the search endpoint", TESTING, ANY, None),
    ("design tables for a multi-tenant billing system", DB, ANY, None),
    ("backup prod postgres before the migration tonight", DB, None, PROD),
    ("good job on the release yesterday folks", None, None, None),
    ("increase the memory limit for checkout to 2Gi in prod", K8S, "checkout", PROD),
    ("pls silence disk alerts on staging until tomorrow", MON, None, STG),
    # set 5: written after all tuning; first run: agent 38/41, full 30/41
    (
        "@devops can u redeploy the email-sender with the fix from main? staging only",
        K8S,
        "email-sender",
        STG,
    ),
    ("rollback prod checkout pls, error rate doubled after 14:00 deploy", K8S, "checkout", PROD),
    ("kubectl get svc -n ingress-nginx", K8S, None, None),
    ("drain all nodes in the old node pool in staging", K8S, None, STG),
    ("change the replica count of pricing to 2 in dev", K8S, "pricing", DEV),
    ("can we roll forward search to 4.1.2 on prd", K8S, "search", PROD),
    ("delete the evicted pods in prod", K8S, None, PROD),
    ("provision a new postgres instance for reporting in staging", K8S, "reporting", STG),
    ("set up a sandbox namespace for ana", K8S, ANY, ANY),
    ("new go service from template, call it geo-lookup", SCAFFOLD, "geo-lookup", None),
    ("create a repo skeleton for the mobile-bff", SCAFFOLD, "mobile-bff", None),
    ("wire up a CD pipeline for mobile-bff to staging and prod", HARNESS, "mobile-bff", ANY),
    ("why is the harness pipeline for checkout stuck on approval", INC, "checkout", None),
    ("clone the checkout pipeline for the cart service", HARNESS, ANY, None),
    ("generate request/response models from the partner swagger", CODEGEN, None, None),
    ("can you generate a rust client for our grpc api", CODEGEN, None, None),
    ("index the orders table on customer_id", DB, None, None),
    ("drop the unused sessions_old table in staging", DB, None, STG),
    ("what's the schema of the invoices table", DB, None, None),
    ("write a migration that renames user.name to full_name", DB, None, None),
    ("add e2e coverage for the checkout flow", TESTING, "checkout", None),
    ("the payments unit tests take 20 minutes, can you speed them up", TESTING, "payments", None),
    ("mutation testing for the ledger lib", TESTING, ANY, None),
    ("latency breakdown by endpoint for checkout in prod", MON, "checkout", PROD),
    ("show 4xx vs 5xx for the api gateway today", MON, ANY, None),
    ("kubectl logs -f deploy/orders -n staging", MON, "orders", STG),
    ("find ERROR lines in the billing logs since 9am", MON, "billing", None),
    ("create a pagerduty alert for disk usage above 85% on db nodes", MON, None, None),
    ("unsilence the checkout alerts", MON, "checkout", None),
    ("sev1: checkout down for all EU customers", INC, "checkout", None),
    ("investigate spike in 499s on the edge proxy", INC, ANY, None),
    ("spin up an incident channel for the payments outage", INC, "payments", None),
    ("update INC-2044: root cause is a bad config push", INC, None, None),
    ("who is on call for the sre team?", INC, None, None),
    ("orders-api crashlooping after config change in prod", INC, "orders-api", PROD),
    ("search pods getting OOMKilled every hour", INC, "search", None),
    ("the worker keeps dying with exit code 1 in staging", INC, "worker", STG),
    ("nothing loads on the admin portal", INC, ANY, None),
    ("thx, all good now", None, None, None),
    ("where is the coffee machine", None, None, None),
    ("can you remind me tomorrow at 10", None, None, None),
]


def _agent(req: TaskRequest) -> str | None:
    return route_for(req.task_type).agent if req.task_type else None


def _check(req: TaskRequest, agent, service, env) -> list[str]:
    errors = []
    if _agent(req) != agent:
        errors.append(f"agent {_agent(req)} ({req.task_type}) != {agent}")
    if service is not ANY and req.context.get("service") != service:
        errors.append(f"service {req.context.get('service')!r} != {service!r}")
    if env is not ANY and req.context.get("environment") != env:
        errors.append(f"environment {req.context.get('environment')!r} != {env!r}")
    return errors


def test_table_is_large_and_varied():
    assert len(CASES) >= 150
    assert len({c[0] for c in CASES}) == len(CASES)
    assert {c[1] for c in CASES} == {K8S, HARNESS, SCAFFOLD, CODEGEN, DB, TESTING, MON, INC}
    assert len(HELD_OUT) >= 40
    held = {h[0] for h in HELD_OUT + HELD_OUT_LATER}
    assert not {c[0] for c in CASES} & held


@pytest.mark.parametrize(("text", "agent", "service", "env"), CASES, ids=[c[0][:60] for c in CASES])
def test_table(text, agent, service, env):
    req = classify_rules(text)
    assert not _check(req, agent, service, env), (_check(req, agent, service, env), req)
    assert req.source == "rules"
    assert req.hint is None
    assert 0.0 < req.confidence <= 1.0


def _accuracy(rows) -> tuple[float, float]:
    agent_ok = full_ok = 0
    for text, agent, service, env in rows:
        req = classify_rules(text)
        agent_ok += _agent(req) == agent
        full_ok += not _check(req, agent, service, env)
    return agent_ok / len(rows), full_ok / len(rows)


def test_table_accuracy():
    agent_acc, full_acc = _accuracy(CASES)
    assert agent_acc >= 0.95 and full_acc >= 0.95


@pytest.mark.parametrize("rows", [HELD_OUT, HELD_OUT_LATER], ids=["held_out", "held_out_later"])
def test_held_out_accuracy(rows, capsys):
    agent_acc, full_acc = _accuracy(rows)
    with capsys.disabled():
        print(f"\n{len(rows)} held-out: agent {agent_acc:.1%}, agent+service+env {full_acc:.1%}")
    # Floors, not targets: see the first-run numbers above.
    assert agent_acc >= 0.85
    assert full_acc >= 0.75


def test_most_table_requests_are_confident():
    confident = sum(classify_rules(t).confidence >= CONFIDENCE_THRESHOLD for t, *_ in CASES)
    assert confident / len(CASES) >= 0.9


# ---------------------------------------------------------------- context extraction

CONTEXT_CASES: list[tuple[str, dict]] = [
    (
        "deploy api-server:v1.2.3 prod",
        {
            "action": "deploy",
            "service": "api-server",
            "image": "api-server:v1.2.3",
            "image_tag": "v1.2.3",
            "environment": "production",
        },
    ),
    (
        "kubectl scale deployment/web --replicas=3 -n prod",
        {
            "action": "scale",
            "service": "web",
            "replicas": 3,
            "namespace": "prod",
            "environment": "production",
        },
    ),
    (
        "service=api env=prod image=api:v2 replicas=3",
        {
            "service": "api",
            "environment": "production",
            "image": "api:v2",
            "image_tag": "v2",
            "replicas": 3,
        },
    ),
    (
        "deploy ghcr.io/org/api:1.4 to staging",
        {
            "image": "ghcr.io/org/api:1.4",
            "image_tag": "1.4",
            "service": "api",
            "environment": "staging",
        },
    ),
    ("ship checkout v2 to staging", {"service": "checkout", "image_tag": "v2", "action": "deploy"}),
    ("release web 1.4.0 to production", {"image_tag": "1.4.0", "environment": "production"}),
    ("kubectl rollout undo deployment/web -n prod", {"action": "rollback", "service": "web"}),
    ("rollback api-server in prod", {"action": "rollback"}),
    (
        "kubectl rollout restart deploy/checkout -n staging",
        {"action": "restart", "namespace": "staging"},
    ),
    (
        "restart checkout in namespace payments-stg",
        {"namespace": "payments-stg", "environment": "staging"},
    ),
    ("get pods --namespace=kube-system", {"namespace": "kube-system"}),
    ("list pods namespace=team-a", {"namespace": "team-a"}),
    ("scale down web to zero", {"replicas": 0, "action": "scale"}),
    ("scale checkout up to 12 in prod", {"replicas": 12}),
    (
        "INC-12345 sev1 payment service latency",
        {"incident_id": "INC-12345", "severity": "critical", "service": "payment-service"},
    ),
    ("inc 4521 is p2", {"incident_id": "INC-4521", "severity": "high"}),
    ("open a sev3 incident for search", {"severity": "medium", "action": "create"}),
    ("declare incident, severity: high, checkout down", {"severity": "high"}),
    ("show error logs of payment-service for the last 2h", {"time_range": "2h", "action": "logs"}),
    ("p99 latency of checkout in the past 30 minutes", {"time_range": "30m"}),
    ("errors for web since yesterday", {"time_range": "24h"}),
    ("alerts for checkout over the last week", {"time_range": "7d"}),
    ("logs for api in the last hour", {"time_range": "1h"}),
    (
        "kubectl logs deploy/checkout -n prod --since=15m",
        {"time_range": "15m", "service": "checkout"},
    ),
    (
        "silence HighLatency for 2h",
        {"action": "silence", "alert_name": "HighLatency", "duration": "2h"},
    ),
    ("ack the DiskPressure alert", {"action": "acknowledge", "alert_name": "DiskPressure"}),
    (
        "set up pipeline for repo https://github.com/org/x with dev, staging and prod",
        {
            "repository": "https://github.com/org/x",
            "environments": ["dev", "staging", "production"],
            "action": "create",
        },
    ),
    (
        "create a pipeline for <https://github.com/acme/web|github.com/acme/web> dev/staging/prod",
        {
            "repository": "https://github.com/acme/web",
            "environments": ["dev", "staging", "production"],
        },
    ),
    ("create pipeline for repo acme/billing", {"repository": "acme/billing"}),
    ("create a pipeline called checkout-cicd", {"pipeline_name": "checkout-cicd"}),
    ("run the checkout-deploy pipeline", {"pipeline_name": "checkout-deploy", "action": "trigger"}),
    (
        "pipeline=microservice-cicd repo=https://github.com/org/microservice envs=dev,staging,prod",
        {
            "pipeline_name": "microservice-cicd",
            "repository": "https://github.com/org/microservice",
            "environments": ["dev", "staging", "production"],
        },
    ),
    ("create namespace team-a", {"namespace": "team-a", "action": "create"}),
    ("kill pod checkout-7d9f8c6b5-x2k4q -n staging", {"service": "checkout", "action": "delete"}),
    (
        "deploy web@sha256:" + "a" * 64 + " to dev",
        {"image": "web@sha256:" + "a" * 64, "service": "web"},
    ),
    ("deploy localhost:5000/team/web:2.0 to dev", {"image": "localhost:5000/team/web:2.0"}),
    ("deploy api to live", {"environment": "production"}),
    ("deploy api to uat", {"environment": "staging"}),
    ("cordon node ip-10-0-1-23", {"action": "cordon"}),
    ("backup the orders database", {"action": "backup"}),
    ("why is checkout crashlooping", {"action": "investigate"}),
    ("write tests for checkout", {"action": "generate"}),
    ("run the integration tests", {"action": "test"}),
]


@pytest.mark.parametrize(
    ("text", "expected"), CONTEXT_CASES, ids=[c[0][:60] for c in CONTEXT_CASES]
)
def test_context(text, expected):
    ctx = classify_rules(text).context
    for key, value in expected.items():
        assert ctx.get(key) == value, (key, ctx)


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("kubectl get pods -n prod", "service"),
        ("restart checkout in prod", "namespace"),  # only when given explicitly
        ("deploy checkout to prod", "image"),
        ("show pods in staging", "service"),
        ("what's running in staging?", "service"),
        ("scale web to 3", "environment"),
        ("the latency is high", "service"),
        ("restart payments-prod", "environment"),  # part of a name, not an environment
        ("generate a python 3.12 client from openapi.yaml", "image_tag"),
        ("grep logs for timeout", "service"),
    ],
)
def test_context_absent(text, absent):
    assert absent not in classify_rules(text).context


def test_context_values_are_normalised():
    for text, *_ in CASES + HELD_OUT + HELD_OUT_LATER:
        ctx = classify_rules(text).context
        if "environment" in ctx:
            assert ctx["environment"] in ("production", "staging", "dev")
        if "service" in ctx:
            svc = ctx["service"]
            assert svc == svc.lower() and svc not in ("prod", "staging", "deploy", "the", "pods")
            assert all(c.isalnum() or c == "-" for c in svc), svc
        if "replicas" in ctx:
            assert isinstance(ctx["replicas"], int)
        if "severity" in ctx:
            assert ctx["severity"] in ("critical", "high", "medium", "low")


# ------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "\n\t",
        "<@U123ABC>",
        "<@U123ABC|devops-bot>  ",
        ":wave:",
        "hello",
        "hi there!",
        "what's for lunch",
        "asdf qwerty zxcv",
        "lorem ipsum dolor sit amet",
        "thanks!",
        "how are you doing today?",
        "???",
        "12345",
        "can you help me?",
    ],
)
def test_unclassifiable_gets_hint(text):
    req = classify_rules(text)
    assert req.task_type is None
    assert req.confidence == 0.0
    assert req.source == "none"
    assert req.hint
    assert req.hint.count("`") == 6  # three example requests
    for example in req.hint.split("`")[1::2]:
        assert classify_rules(example).task_type is not None, example


def test_hint_examples_route_somewhere():
    hint = classify_rules("what's for lunch").hint
    assert "what's for lunch" in hint


def test_clean_text_slack_markup():
    raw = (
        "<@U123ABC> <@U999|bob> please *deploy* `api:v2` &amp; check <#C42|ops-alerts> "
        "<https://github.com/acme/api|github.com/acme/api> <https://x.io/y|the runbook> "
        "<https://z.io> <!here> :fire: :+1::skin-tone-2:"
    )
    clean, alarm = clean_text(raw)
    assert alarm
    assert "<" not in clean and ">" not in clean and ":fire:" not in clean
    assert "deploy api:v2 & check #ops-alerts" in clean
    assert "https://github.com/acme/api" in clean
    assert "the runbook (https://x.io/y)" in clean
    assert "https://z.io" in clean


def test_autocorrected_em_dash_flags():
    req = classify_rules("kubectl scale deployment/web \u2014replicas=3 \u2014namespace prod")
    assert req.context["replicas"] == 3
    assert req.context["namespace"] == "prod"


def test_text_is_the_cleaned_text():
    req = classify_rules("<@U1>   deploy   web  to prod :rocket:")
    assert req.text == "deploy web to prod"


def test_explicit_task_type_wins():
    req = classify_rules("task=migration service=orders")
    assert req.task_type == "migration" and req.confidence >= 0.9


def test_high_confidence_for_unambiguous_requests():
    for text in (
        "deploy api-server:v1.2.3 prod",
        "kubectl scale deployment/web --replicas=3 -n prod",
        "show error logs of payment-service",
        "create a ci/cd pipeline for microservice",
        "why is checkout crashlooping",
    ):
        assert classify_rules(text).confidence >= 0.8, text


def test_low_confidence_for_weak_signals():
    for text in ("anything weird with the cluster?", "is search up?", "need web on v3.4.0 in prod"):
        req = classify_rules(text)
        assert req.task_type is not None and req.confidence < CONFIDENCE_THRESHOLD, (text, req)


def test_lone_weak_keyword_is_not_a_request():
    for text in ("errors", "good job on the release yesterday folks", "checkout health"):
        req = classify_rules(text)
        assert req.task_type is None and req.hint, (text, req)


def test_classify_text_is_rules_only():
    assert classify_text("deploy web to prod") == classify_rules("deploy web to prod")


def test_analysis_marks_explicit_fields_certain():
    a = analyse("restart checkout -n prod")
    assert "namespace" in a.certain
    assert "service" not in a.certain  # from prose
    a = analyse("kubectl rollout restart deploy/checkout")
    assert "service" in a.certain


def test_seed_examples():
    req = classify_rules("Deploy api-server to production")
    assert req.task_type == "deploy"
    assert req.context["service"] == "api-server" and req.context["environment"] == "production"
    req = classify_rules("Investigate payment service latency")
    assert req.task_type == "incident_response"
    # the seed: "payment service" -> payment-service
    assert req.context["service"] == "payment-service"
    req = classify_rules("Create pipeline for microservice")
    assert req.task_type == "pipeline"
