"""Breaking-change detection on pairs of documents with known differences."""

from __future__ import annotations

import copy

from tests.api_services import library_document
from workflow.agents.codegen_agent.compare import compare_documents
from workflow.agents.codegen_agent.sandbox_api import orders_document


def breaking(old, new) -> set[tuple[str, str]]:
    return {(c.where, c.kind) for c in compare_documents(old, new) if c.breaking}


def test_identical_documents_have_no_changes():
    assert compare_documents(library_document(), library_document()) == []


def test_each_kind_of_breaking_change_is_named():
    old = library_document()
    new = copy.deepcopy(old)
    del new["paths"]["/books/{book_id}/blurb"]  # removed operation
    book = new["components"]["schemas"]["Book"]["properties"]
    del book["year"]  # removed field
    book["id"] = {"type": "string"}  # retyped field
    book["genre"]["enum"] = ["novel", "essay"]  # narrowed enum
    new["paths"]["/books"]["get"]["parameters"].append(
        {"name": "shelf", "in": "query", "required": True, "schema": {"type": "string"}}
    )  # new required parameter
    new["components"]["schemas"]["NewBook"]["required"].append("year")  # request field required
    assert breaking(old, new) == {
        ("GET /books/{book_id}/blurb", "removed operation"),
        ("Book.year", "removed field"),
        ("Book.id", "retyped field"),
        ("Book.genre", "narrowed enum"),
        ("GET /books query parameter shelf", "new required parameter"),
        ("NewBook.year", "field became required"),
    }
    details = {c.where: c.detail for c in compare_documents(old, new)}
    assert details["Book.id"] == "integer -> string"
    assert details["Book.genre"] == "removed 'biography'"


def test_compatible_changes_are_listed_but_not_breaking():
    old = orders_document()
    new = copy.deepcopy(old)
    new["paths"]["/stats"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    order = new["components"]["schemas"]["Order"]
    order["properties"]["note"] = {"type": "string"}  # optional response field
    order["properties"]["status"]["enum"].append("cancelled")  # widened enum
    new["components"]["schemas"]["Order"]["required"].append("note")  # a response: fine
    changes = compare_documents(old, new)
    assert not [c for c in changes if c.breaking], changes
    kinds = {(c.where, c.kind) for c in changes}
    assert ("GET /stats", "new operation") in kinds
    assert ("Order.status", "widened enum") in kinds
    assert ("Order.note", "new required field") in kinds


def test_a_narrowed_parameter_enum_and_a_body_made_required_break():
    old = library_document()
    new = copy.deepcopy(old)
    new["paths"]["/books"]["get"]["parameters"][0]["schema"]["enum"] = ["novel"]
    old["paths"]["/books"]["post"]["requestBody"]["required"] = False
    assert breaking(old, new) == {
        ("GET /books query parameter genre", "narrowed enum"),
        ("POST /books", "request body became required"),
    }
