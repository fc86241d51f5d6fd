"""The OpenAPI document of /api (a test checks it matches the routes)."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}


def _q(name: str, schema: dict, description: str, required: bool = False) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": description,
    }


_SEARCH_PARAMS = [
    _q("q", {"type": "string", "maxLength": 1000}, "The question or case description.", True),
    _q("k", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}, "How many results."),
    _q("mode", {"type": "string", "enum": ["hybrid", "keyword", "dense"]}, "Retrieval mode."),
    _q("as_of", {"type": "string", "format": "date"}, "Versions in force on this date."),
    _q("history", {"type": "boolean"}, "Include historical versions."),
    _q("date_from", {"type": "string", "format": "date"}, "Documents dated on or after."),
    _q("date_to", {"type": "string", "format": "date"}, "Documents dated on or before."),
    _q("max_per_doc", {"type": "integer", "minimum": 1}, "At most this many per document."),
    _q("type", {"type": "string"}, "Filter: policy, guidance or ruling (a,b for either)."),
    _q("regions", {"type": "string"}, "Filter: region (also matches global)."),
    _q("surfaces", {"type": "string"}, "Filter: product surface."),
    _q("policy_areas", {"type": "string"}, "Filter: policy area."),
    _q("platform", {"type": "string"}, "Filter: platform."),
]


def _get(summary: str, params: list, ok: str, errors=(400,)) -> dict:
    responses = {
        "200": {"description": ok, "content": {"application/json": {"schema": {"type": "object"}}}}
    }
    for code in errors:
        responses[str(code)] = {
            "description": "Error",
            "content": {"application/json": {"schema": _ERROR}},
        }
    return {"summary": summary, "parameters": params, "responses": responses}


def _body(summary: str, fields: str, errors, params=()) -> dict:
    op = _get(summary, list(params), "Done", errors=errors)
    op["requestBody"] = {
        "required": True,
        "description": f"JSON object: {fields}",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    return op


def spec() -> dict[str, Any]:
    """The document."""
    path_id = {"name": "doc_id", "in": "path", "required": True, "schema": {"type": "string"}}
    passage_id = {
        "name": "passage_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    item = {"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "policy-kb API",
            "version": "1",
            "description": "Ranked, cited passages from a policy knowledge base. Any "
            "metadata field can be used as a filter parameter.",
        },
        "paths": {
            "/api/search": {
                "get": _get(
                    "Search passages", _SEARCH_PARAMS, "Ranked, cited passages with facet counts"
                )
            },
            "/api/answer": {
                "get": _get(
                    "Extractive answer",
                    _SEARCH_PARAMS,
                    "Answer sentences with citations, or an abstention",
                )
            },
            "/api/documents/{doc_id}": {
                "get": _get(
                    "A document version",
                    [
                        path_id,
                        _q(
                            "version", {"type": "string"}, "Version id or label; current by default"
                        ),
                    ],
                    "The version's passages and metadata",
                    errors=(404,),
                )
            },
            "/api/documents/{doc_id}/diff": {
                "get": _get(
                    "What changed between two versions",
                    [
                        path_id,
                        _q("from", {"type": "string"}, "Older version id or label"),
                        _q("to", {"type": "string"}, "Newer version id or label (default current)"),
                    ],
                    "Sections added, removed and changed, with word changes",
                    errors=(404,),
                )
            },
            "/api/passages/{passage_id}": {
                "get": _get(
                    "One passage", [passage_id], "The passage and its document", errors=(404,)
                )
            },
            "/api/rulings/{case_id}/teaching": {
                "put": _body(
                    "Flag a ruling as a teaching example",
                    "teaching_example (bool), note",
                    (400, 404),
                    [
                        {
                            "name": "case_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                )
            },
            "/api/rulings/similar": {
                "get": _get(
                    "Similar rulings",
                    [
                        _q("q", {"type": "string", "maxLength": 1000}, "A case description."),
                        _q("case_id", {"type": "string"}, "Or: a ruling whose facts to match."),
                        *_SEARCH_PARAMS[1:],
                    ],
                    "The closest rulings with outcomes, and the outcome distribution",
                    errors=(400, 404),
                )
            },
            "/api/consistency": {
                "get": _get(
                    "Consistency report",
                    [],
                    "Groups of near-identical rulings with unexplained divergent outcomes",
                    errors=(),
                )
            },
            "/api/collections": {
                "get": _get("Collections", [], "Every collection", errors=()),
                "post": _body("Create a collection", "name, description", (400,)),
            },
            "/api/collections/{name}": {
                "get": _get("A collection", [name], "Its items with citations", errors=(404,)),
                "delete": _get("Delete a collection", [name], "Deleted", errors=(404,)),
            },
            "/api/collections/{name}/items": {
                "post": _body("Add a passage or ruling", "ref, note", (400, 404), [name])
            },
            "/api/collections/{name}/items/{item_id}": {
                "patch": _body(
                    "Annotate or reorder an item", "note, position", (400, 404), [name, item]
                ),
                "delete": _get("Remove an item", [name, item], "Removed", errors=(404,)),
            },
            "/api/collections/{name}/export": {
                "get": _get(
                    "Export a collection",
                    [name, _q("format", {"type": "string", "enum": ["md", "csv"]}, "md or csv")],
                    "Markdown or CSV with full citations",
                    errors=(400, 404),
                )
            },
            "/api/health": {"get": _get("Health", [], "What is being served", errors=())},
            "/api/openapi.json": {"get": _get("This document", [], "OpenAPI", errors=())},
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["status", "code", "message"],
                            "properties": {
                                "status": {"type": "integer"},
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                }
            }
        },
    }
