"""Small HTTP services on loopback (port 0) with OpenAPI documents, for the API agents'
tests: a library API written here (not the sandbox's), served correct or with planted bugs,
and a server of a broken document."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from workflow.sandbox._serve import ThreadedServer

__all__ = ["BROKEN", "PLANTED", "library_document", "serve", "serve_library"]

# The bugs the buggy library has: (operation, check) pairs an API test must report.
PLANTED = {
    ("GET /books", "response_schema_conformance"),  # a genre outside the enum
    ("GET /books/{book_id}", "not_a_server_error"),  # 500 for book ids above 10000
    ("GET /books/{book_id}", "status_code_conformance"),  # ... an undocumented status
    ("GET /books/{book_id}/blurb", "content_type_conformance"),  # text/plain, not JSON
}


def library_document(version: str = "3.1.0") -> dict[str, Any]:
    book = {
        "type": "object",
        "required": ["id", "title", "genre"],
        "properties": {
            "id": {"type": "integer"},
            "title": {"type": "string"},
            "genre": {"type": "string", "enum": ["novel", "essay", "biography"]},
            "year": {"type": "integer"},
        },
    }
    book_id = {"name": "book_id", "in": "path", "required": True,
               "schema": {"type": "integer", "minimum": 1}}  # fmt: skip
    not_found = {
        "description": "no such book",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Library API", "version": version},
        "paths": {
            "/books": {
                "get": {
                    "operationId": "listBooks",
                    "parameters": [
                        {
                            "name": "genre",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": ["novel", "essay", "biography"]},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "the books",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Book"},
                                    }
                                }
                            },
                        }
                    },
                },
                "post": {
                    "operationId": "addBook",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/NewBook"}}
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "added",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Book"}
                                }
                            },
                        },
                        "400": not_found | {"description": "invalid"},
                    },
                },
            },
            "/books/{book_id}": {
                "get": {
                    "operationId": "getBook",
                    "parameters": [book_id],
                    "responses": {
                        "200": {
                            "description": "the book",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Book"}
                                }
                            },
                        },
                        "404": not_found,
                    },
                }
            },
            "/books/{book_id}/blurb": {
                "get": {
                    "operationId": "getBlurb",
                    "parameters": [book_id],
                    "responses": {
                        "200": {
                            "description": "the blurb",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["text"],
                                        "properties": {"text": {"type": "string"}},
                                    }
                                }
                            },
                        },
                        "404": not_found,
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Book": book,
                "NewBook": {
                    "type": "object",
                    "required": ["title", "genre"],
                    "properties": {
                        "title": {"type": "string", "minLength": 1, "maxLength": 80},
                        "genre": copy.deepcopy(book["properties"]["genre"]),
                        "year": {"type": "integer", "minimum": 0, "maximum": 3000},
                    },
                },
                "Problem": {
                    "type": "object",
                    "required": ["detail"],
                    "properties": {"detail": {"type": "string"}},
                },
            }
        },
    }


# A document with two errors: info without its version, a response without description.
BROKEN = {
    "openapi": "3.0.3",
    "info": {"title": "Broken API"},
    "paths": {"/things": {"get": {"responses": {"200": {"content": {}}}}}},
}


def _is_new_book(body: object) -> bool:
    """What NewBook allows and nothing else: only the planted bugs differ from the document."""
    if not isinstance(body, dict):
        return False
    title, genre, year = body.get("title"), body.get("genre"), body.get("year", 0)
    return (
        isinstance(title, str)
        and 1 <= len(title) <= 80
        and genre in ("novel", "essay", "biography")
        and type(year) is int
        and 0 <= year <= 3000
    )


def library_app(*, bugs: bool, document: dict[str, Any] | None = None) -> web.Application:
    books = {
        1: {"id": 1, "title": "Emma", "genre": "novel", "year": 1815},
        2: {"id": 2, "title": "Walden", "genre": "essay", "year": 1854},
    }
    text = json.dumps(document or library_document())

    def problem(status: int, detail: str) -> web.Response:
        return web.json_response({"detail": detail}, status=status)

    async def openapi(_: web.Request) -> web.Response:
        return web.Response(text=text, content_type="application/json")

    async def list_books(request: web.Request) -> web.Response:
        genre = request.query.get("genre")
        found = [b for b in books.values() if genre in (None, b["genre"])]
        if bugs:
            found.append({"id": 9, "title": "Odes", "genre": "poetry"})
        return web.json_response(found)

    async def add_book(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return problem(400, "not JSON")
        if not _is_new_book(body):
            return problem(400, "title (1-80 characters) and genre (novel, essay, biography)")
        book = {"id": len(books) + 1, "title": body["title"], "genre": body["genre"]}
        return web.json_response(book, status=201)

    def _book(request: web.Request) -> int:
        try:
            return int(request.match_info["book_id"])
        except ValueError:
            return 0

    async def get_book(request: web.Request) -> web.Response:
        book_id = _book(request)
        if bugs and book_id > 10000:
            return web.Response(status=500, text="boom")
        if book_id not in books:
            return problem(404, f"no book {book_id}")
        return web.json_response(books[book_id])

    async def get_blurb(request: web.Request) -> web.Response:
        book_id = _book(request)
        if book_id not in books:
            return problem(404, f"no book {book_id}")
        if bugs:
            return web.Response(text=f"{books[book_id]['title']}: a classic")
        return web.json_response({"text": f"{books[book_id]['title']}: a classic"})

    app = web.Application()
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/books", list_books)
    app.router.add_post("/books", add_book)
    app.router.add_get("/books/{book_id}", get_book)
    app.router.add_get("/books/{book_id}/blurb", get_blurb)
    return app


def broken_app() -> web.Application:
    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(BROKEN)

    app = web.Application()
    app.router.add_get("/openapi.json", openapi)
    return app


class _Server(ThreadedServer):
    def __init__(self, factory: Callable[[], web.Application]):
        super().__init__()
        self._factory = factory

    def _make_app(self) -> web.Application:
        return self._factory()


@contextmanager
def serve(factory: Callable[[], web.Application]) -> Iterator[str]:
    """Serve the app on a free loopback port; yields its base URL."""
    server = _Server(factory)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@contextmanager
def serve_library(*, bugs: bool, document: dict[str, Any] | None = None) -> Iterator[str]:
    with serve(lambda: library_app(bugs=bugs, document=document)) as url:
        yield url
