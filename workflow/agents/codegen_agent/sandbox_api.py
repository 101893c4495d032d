"""The sandbox services' HTTP APIs, served on loopback with their OpenAPI documents.

checkout         an orders API with two planted bugs: a 500 on an edge-case input (an order
                 id of 0 or below) and a response that does not match its schema (a
                 `status` outside its enum in the order list)
payment-service  a payments API that keeps to its document (no bugs)

Each is served at `/<service>/` by one `SandboxApis` server, with `/<service>/openapi.json`
and a coverage.py JSON report at `/<service>/coverage.json`; ledger's Cobertura XML report is
at `/ledger/coverage.xml`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from aiohttp import web

from workflow.sandbox._serve import ThreadedServer

__all__ = ["SERVICES", "SandboxApis", "api_app", "orders_document", "payments_document"]

_ORDER = {
    "type": "object",
    "required": ["id", "item", "quantity", "status"],
    "properties": {
        "id": {"type": "integer"},
        "item": {"type": "string"},
        "quantity": {"type": "integer", "minimum": 1},
        "status": {"type": "string", "enum": ["pending", "shipped"]},
    },
}
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def orders_document(title: str = "Checkout API", version: str = "1.2.0") -> dict[str, Any]:
    """The checkout orders API's document (relative server: the service's own prefix)."""
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version},
        "servers": [{"url": "."}],
        "paths": {
            "/health": {
                "get": {
                    "operationId": "getHealth",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["status"],
                                "properties": {"status": {"type": "string"}},
                            }
                        )
                    },
                }
            },
            "/orders": {
                "get": {
                    "operationId": "listOrders",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                        }
                    ],
                    "responses": {
                        "200": _json(
                            {"type": "array", "items": {"$ref": "#/components/schemas/Order"}}
                        )
                    },
                },
                "post": {
                    "operationId": "createOrder",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/NewOrder"},
                                "example": {"item": "book", "quantity": 2},
                            }
                        },
                    },
                    "responses": {
                        "201": _json({"$ref": "#/components/schemas/Order"}, "Created"),
                        "400": _json({"$ref": "#/components/schemas/Error"}, "Bad request"),
                    },
                },
            },
            "/orders/{order_id}": {
                "get": {
                    "operationId": "getOrder",
                    "parameters": [
                        {
                            "name": "order_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        }
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Order"}),
                        "404": _json({"$ref": "#/components/schemas/Error"}, "Not found"),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Order": copy.deepcopy(_ORDER),
                "NewOrder": {
                    "type": "object",
                    "required": ["item", "quantity"],
                    "properties": {
                        "item": {"type": "string", "minLength": 1, "maxLength": 40},
                        "quantity": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                },
                "Error": copy.deepcopy(_ERROR),
            }
        },
    }


def payments_document() -> dict[str, Any]:
    """The payments API: the orders API's shape under another name, with a payments list."""
    doc = orders_document("Payments API", "2.0.0")
    doc["paths"]["/payments"] = {
        "get": {
            "operationId": "listPayments",
            "responses": {"200": _json({"type": "array", "items": _ref("Payment")})},
        }
    }
    doc["components"]["schemas"]["Payment"] = {
        "type": "object",
        "required": ["id", "amount", "currency"],
        "properties": {
            "id": {"type": "string"},
            "amount": {"type": "number"},
            "currency": {"type": "string", "enum": ["EUR", "USD"]},
        },
    }
    return doc


def _coverage(percent: float) -> dict[str, Any]:
    files = {
        "src/app.py": (120, 12),
        "src/orders.py": (80, 30),
        "src/payments.py": (60, 33),
        "src/util.py": (20, 0),
    }
    out: dict[str, Any] = {"meta": {"format": 3}, "files": {}}
    statements = missing = 0
    for name, (stmts, miss) in files.items():
        statements += stmts
        missing += miss
        out["files"][name] = {
            "summary": {
                "num_statements": stmts,
                "missing_lines": miss,
                "covered_lines": stmts - miss,
                "percent_covered": 100.0 * (stmts - miss) / stmts,
            }
        }
    out["totals"] = {
        "num_statements": statements,
        "missing_lines": missing,
        "covered_lines": statements - missing,
        "percent_covered": percent if percent else 100.0 * (statements - missing) / statements,
    }
    return out


def _is_new_order(item: object, quantity: object) -> bool:
    """What NewOrder allows, and nothing else (JSON's `true` is not an integer, though
    Python's bool is an int): only the planted bugs make checkout differ from its document."""
    return (
        isinstance(item, str)
        and 1 <= len(item) <= 40
        and type(quantity) is int
        and 1 <= quantity <= 1000
    )


def api_app(document: dict[str, Any], *, bugs: bool, prefix: str = "") -> web.Application:
    """An aiohttp app serving the orders API of `document`; `bugs` plants the two bugs."""
    orders: dict[int, dict[str, Any]] = {
        1: {"id": 1, "item": "book", "quantity": 1, "status": "shipped"},
        2: {"id": 2, "item": "pen", "quantity": 3, "status": "pending"},
    }
    payments = [{"id": "p-1", "amount": 12.5, "currency": "EUR"}]
    text = json.dumps(document)

    def error(status: int, message: str) -> web.Response:
        return web.json_response({"error": message}, status=status)

    async def openapi(_: web.Request) -> web.Response:
        return web.Response(text=text, content_type="application/json")

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def list_orders(request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            limit = 100
        found = list(orders.values())[: max(limit, 0)]
        if bugs:  # planted: a status the document's enum does not have
            found = [*found, {"id": 99, "item": "mug", "quantity": 1, "status": "cancelled"}]
        return web.json_response(found)

    async def create_order(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return error(400, "body is not JSON")
        if not isinstance(body, dict):
            return error(400, "body must be an object")
        item, quantity = body.get("item"), body.get("quantity")
        if not _is_new_order(item, quantity):
            return error(400, "item (1-40 characters) and quantity (integer 1-1000) are required")
        order = {"id": len(orders) + 1, "item": item, "quantity": quantity, "status": "pending"}
        if len(orders) < 1000:
            orders[order["id"]] = order
        return web.json_response(order, status=201)

    async def get_order(request: web.Request) -> web.Response:
        try:
            order_id = int(request.match_info["order_id"])
        except ValueError:
            return error(404, "no such order")
        if bugs and order_id <= 0:  # planted: an edge case the code never expected
            raise web.HTTPInternalServerError(text="Internal Server Error")
        order = orders.get(order_id)
        if order is None:
            return error(404, f"no order {order_id}")
        return web.json_response(order)

    async def list_payments(_: web.Request) -> web.Response:
        return web.json_response(payments)

    async def coverage(_: web.Request) -> web.Response:
        return web.json_response(_coverage(0))

    app = web.Application()
    app.router.add_get(f"{prefix}/openapi.json", openapi)
    app.router.add_get(f"{prefix}/coverage.json", coverage)
    app.router.add_get(f"{prefix}/health", health)
    app.router.add_get(f"{prefix}/orders", list_orders)
    app.router.add_post(f"{prefix}/orders", create_order)
    app.router.add_get(f"{prefix}/orders/{{order_id}}", get_order)
    if "/payments" in document["paths"]:
        app.router.add_get(f"{prefix}/payments", list_payments)
    return app


# service -> (document factory, planted bugs)
SERVICES: dict[str, tuple[Any, bool]] = {
    "checkout": (orders_document, True),
    "payment-service": (payments_document, False),
}


# ledger has no API in the sandbox, only the Cobertura XML report its CI would publish.
LEDGER_COBERTURA = """<?xml version="1.0" ?>
<coverage line-rate="0.8125" branch-rate="0" lines-valid="320" lines-covered="260" version="7.6">
  <packages>
    <package name="ledger" line-rate="0.8125">
      <classes>
        <class name="accounts.py" filename="ledger/accounts.py" line-rate="0.95"/>
        <class name="entries.py" filename="ledger/entries.py" line-rate="0.9"/>
        <class name="reconcile.py" filename="ledger/reconcile.py" line-rate="0.55"/>
        <class name="export.py" filename="ledger/export.py" line-rate="0.4"/>
      </classes>
    </package>
  </packages>
</coverage>
"""


class SandboxApis(ThreadedServer):
    """Every sandbox service's API under `/<service>/` on one loopback server."""

    _label = "sandbox APIs"

    def _make_app(self) -> web.Application:
        root = web.Application()
        for service, (document, bugs) in SERVICES.items():
            root.add_subapp(f"/{service}/", api_app(document(), bugs=bugs))

        async def ledger(_: web.Request) -> web.Response:
            return web.Response(text=LEDGER_COBERTURA, content_type="application/xml")

        root.router.add_get("/ledger/coverage.xml", ledger)
        return root

    def documents(self) -> dict[str, str]:
        assert self.url, "start() first"
        return {service: f"{self.url}/{service}/openapi.json" for service in SERVICES}

    def coverage(self) -> dict[str, str]:
        assert self.url, "start() first"
        reports = {service: f"{self.url}/{service}/coverage.json" for service in SERVICES}
        return {**reports, "ledger": f"{self.url}/ledger/coverage.xml"}
