"""The OpenAPI document of /api (tests check it matches the routes, and schemathesis checks
that the app answers what it says)."""

from __future__ import annotations

from typing import Any

from kb.audit import MAX_PAGE
from kb.blank import NOT_BLANK
from kb.collections import NAME_RE
from kb.config import Settings
from kb.feedback import VERDICTS
from kb.search.filters import MAX_FILTER_VALUES, MAX_VALUE_LENGTH
from kb.search.hybrid import MODES, UNITS
from kb.search.listing import SORTS
from kb.web.params import MAX_RESULT_PAGE


class _Setting(str):
    """A place in the document for a setting's value, filled in by `spec` (limits are not
    written twice: they come from the settings the app runs with)."""


_MAX_QUERY_CHARS = _Setting("max_query_chars")
_MAX_K = _Setting("max_k")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _q(name: str, schema: dict, description: str, required: bool = False) -> dict:
    """A query parameter; an optional one may be sent empty (`as_of=`), meaning not given."""
    return {
        "name": name,
        "in": "query",
        "required": required,
        "allowEmptyValue": not required,
        "schema": schema,
        "description": description,
    }


def _path(name: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def _obj(required: str, **properties: dict) -> dict:
    """A JSON object with these properties, the space-separated `required` ones always there
    (more may be added later, so others are allowed)."""
    return {"type": "object", "required": required.split(), "properties": properties}


_STR = {"type": "string"}
_FORMAT = {"type": "string", "enum": ["md", "csv"]}
_INT = {"type": "integer"}
_NUM = {"type": "number"}
_BOOL = {"type": "boolean"}
_OPT_STR = {"type": ["string", "null"]}
_STRS = {"type": "array", "items": _STR}
# Text the API stores: no NUL character (PostgreSQL cannot store it; both backends refuse it).
_NO_NUL = "^[^\\u0000]*$"
_TEXT = {"type": "string", "pattern": _NO_NUL}
_TEXT_NOT_BLANK = {
    "type": "string",
    "pattern": "^[^\\u0000]*" + NOT_BLANK[:-1] + "\\u0000][^\\u0000]*$",
}
_PAGES = {
    "type": ["array", "null"],
    "items": _INT,
    "minItems": 2,
    "maxItems": 2,
    "description": "First and last page of the passage, for PDFs; null otherwise.",
}
_DATE = {"type": "string", "format": "date"}
# A query: at most max_query_chars characters, at least one of them not a space.
_QUERY = {"type": "string", "maxLength": _MAX_QUERY_CHARS, "pattern": NOT_BLANK}
# A filter value: empty means no filter; "a,b" means either; blank values are refused.
_FILTER = {"type": "string", "maxLength": MAX_VALUE_LENGTH, "pattern": "^$|" + NOT_BLANK}
# In a JSON body a filter that is there has a value (a string, or a number or true/false).
_FILTER_VALUE = {
    "type": ["string", "number", "boolean"],
    "maxLength": MAX_VALUE_LENGTH,
    "pattern": NOT_BLANK,
}
_FILTER_VALUES = {"type": "array", "items": _FILTER_VALUE, "maxItems": MAX_FILTER_VALUES}
_FILTER_FIELDS = {
    "type": "policy, guidance or ruling (a,b for either)",
    "regions": "region (also matches global)",
    "surfaces": "product surface",
    "policy_areas": "policy area",
    "platform": "platform",
    "precedent_status": "rulings that are sound, outdated (a clause they applied changed since), "
    "in conflict (an open, unexplained consistency group) or do_not_follow (settled otherwise)",
}

_K = {"type": "integer", "minimum": 1, "maximum": _MAX_K, "default": 10}
_MODE = {"type": "string", "enum": list(MODES)}
_MAX_PER_DOC = {"type": "integer", "minimum": 1}
_BY = {"type": "string", "enum": list(UNITS), "default": "clause"}
_OPTIONS = [
    _q("k", _K, "How many results."),
    _q("mode", _MODE, "Retrieval mode."),
    _q("as_of", _DATE, "Versions in force on this date."),
    _q("history", _BOOL, "Include historical versions."),
    _q("date_from", _DATE, "Documents dated on or after (not after date_to)."),
    _q("date_to", _DATE, "Documents dated on or before."),
    _q("max_per_doc", _MAX_PER_DOC, "At most this many per document."),
    _q(
        "by",
        _BY,
        "One result per clause (its best passage; the others in more_passages), or per passage.",
    ),
    *(_q(key, _FILTER, f"Filter: {text}.") for key, text in _FILTER_FIELDS.items()),
]
_SEARCH_PARAMS = [_q("q", _QUERY, "The question or case description.", True), *_OPTIONS]
_SORT = {"type": "string", "enum": list(SORTS), "default": "relevance"}
_PAGE = {"type": "integer", "minimum": 1, "maximum": MAX_RESULT_PAGE, "default": 1}
_LIST_PARAMS = [
    _q(
        "q",
        {"type": "string", "maxLength": _MAX_QUERY_CHARS},
        "The question or case description; empty lists everything the filters match, one row "
        "per clause, guidance section or ruling.",
    ),
    *_OPTIONS,
    _q("sort", _SORT, "relevance, date (newest first) or outcome (then newest)."),
    _q("page", _PAGE, "Page of k results (1 is the first)."),
    _q("format", {"type": "string", "enum": ["json", "csv"]}, "json, or csv: every result"),
]

_SEARCH_BODY = {
    **_obj(
        "q",
        q=_QUERY,
        k=_K,
        mode=_MODE,
        as_of=_DATE,
        history=_BOOL,
        date_from=_DATE,
        date_to=_DATE,
        max_per_doc=_MAX_PER_DOC,
        by=_BY,
        filters={
            "type": "object",
            "description": "Field -> a value or a list of values (any of them). Any other "
            "metadata field works too; an unknown one is refused with the list of known ones.",
            "properties": {
                key: {"anyOf": [_FILTER_VALUE, _FILTER_VALUES]} for key in _FILTER_FIELDS
            },
            "additionalProperties": False,
        },
    ),
    "additionalProperties": False,
    "description": "The query parameters as a JSON object, filters under `filters`.",
}

_SEARCH_LIST_BODY = {
    **_SEARCH_BODY,
    "required": [],
    "properties": {
        **_SEARCH_BODY["properties"],
        "q": {"type": "string", "maxLength": _MAX_QUERY_CHARS},
        "sort": _SORT,
        "page": _PAGE,
    },
}

_GROUP = _obj(
    "case_ids outcomes rulings topic",
    case_ids=_STRS,
    outcomes={"type": "object", "additionalProperties": _INT},
    rulings={"type": "array", "items": {"type": "object"}},
    topic=_STR,
    resolution={"type": ["object", "null"]},
)
_CITATION = _obj(
    "doc_id title doc_type version version_id status heading_path text",
    doc_id=_STR,
    title=_STR,
    doc_type=_STR,
    version=_OPT_STR,
    version_id=_INT,
    effective_from=_OPT_STR,
    effective_to=_OPT_STR,
    status=_STR,
    heading_path=_STRS,
    anchor=_OPT_STR,
    passage_id=_OPT_STR,
    url=_STR,
    pages=_PAGES,
    text=_STR,
)
_HIT = _obj(
    "rank passage_id document_id title heading_path text score scores metadata citation",
    rank=_INT,
    passage_id=_STR,
    document_id=_STR,
    title=_STR,
    doc_type=_STR,
    heading_path=_STRS,
    clause_id=_OPT_STR,
    text=_STR,
    highlighted=_STR,
    score=_NUM,
    scores={"type": "object"},
    metadata={"type": "object"},
    citation=_ref("Citation"),
    more_passages=_STRS,
)
_PASSAGE = _obj(
    "passage_id doc_id version_id heading_path text",
    passage_id=_STR,
    doc_id=_STR,
    version_id=_INT,
    heading_path=_STRS,
    anchor=_OPT_STR,
    clause_id=_OPT_STR,
    ordinal=_INT,
    text=_STR,
    start=_INT,
    end=_INT,
    pages=_PAGES,
)
_VERSION = _obj(
    "version_id status",
    version_id=_INT,
    version=_OPT_STR,
    effective_from=_OPT_STR,
    effective_to=_OPT_STR,
    status=_STR,
    metadata={"type": "object"},
)
_SCHEMAS = {
    "Error": _obj("error", error=_obj("status code message", status=_INT, code=_STR, message=_STR)),
    "Citation": _CITATION,
    "Hit": _HIT,
    "Search": _obj(
        "query mode results facets",
        query=_STR,
        mode=_STR,
        filters={"type": "object"},
        took_ms=_NUM,
        total={"type": ["integer", "null"], "description": "Results there are, when known"},
        page=_INT,
        sort=_STR,
        results={"type": "array", "items": _ref("Hit")},
        facets={
            "type": "object",
            "additionalProperties": {"type": "object", "additionalProperties": _INT},
        },
    ),
    "Answer": _obj(
        "query answered confidence threshold message sentences sources precedents",
        query=_STR,
        answered=_BOOL,
        confidence=_NUM,
        threshold=_NUM,
        message=_STR,
        governing={
            "anyOf": [
                {"type": "null"},
                _obj(
                    "clause_id heading document version url",
                    clause_id=_OPT_STR,
                    heading=_STR,
                    document=_STR,
                    version=_STR,
                    url=_STR,
                ),
            ]
        },
        sentences={"type": "array", "items": _obj("text source", text=_STR, source=_INT)},
        sources={
            "type": "array",
            "items": _obj(
                "marker passage_id citation",
                marker=_INT,
                passage_id=_STR,
                citation=_ref("Citation"),
            ),
        },
        precedents={"type": "array", "items": {"type": "object"}},
    ),
    "Passage": {
        **_PASSAGE,
        "properties": {**_PASSAGE["properties"], "document": {"type": "object"}},
    },
    "Document": _obj(
        "doc_id title doc_type version versions passages",
        doc_id=_STR,
        title=_STR,
        doc_type=_STR,
        removed=_BOOL,
        version=_VERSION,
        versions={"type": "array", "items": _VERSION},
        passages={"type": "array", "items": _PASSAGE},
        ruling={"type": ["object", "null"]},
        precedent={
            "type": ["object", "null"],
            "description": "An active ruling's worth as precedent (precedent_status: sound, "
            "outdated or conflict; outdated_clauses; conflicts_with)",
        },
    ),
    "Diff": _obj(
        "doc_id from to counts changes",
        doc_id=_STR,
        **{"from": _VERSION, "to": _VERSION},
        counts={"type": "object", "additionalProperties": _INT},
        changes={"type": "array", "items": _obj("kind", kind=_STR)},
    ),
    "Similar": _obj(
        "query outcomes rulings",
        query=_STR,
        outcomes={"type": "object", "additionalProperties": _INT},
        rulings={"type": "array", "items": _ref("Hit")},
    ),
    "Consistency": _obj(
        "groups resolved",
        groups={"type": "array", "items": _GROUP},
        resolved={"type": "array", "items": _GROUP},
    ),
    "Collections": _obj(
        "collections",
        collections={
            "type": "array",
            "items": _obj("name items", name=_STR, description=_STR, items=_INT),
        },
    ),
    "Collection": _obj(
        "name items",
        name=_STR,
        items={
            "type": "array",
            "items": _obj(
                "item_id position ref kind",
                item_id=_INT,
                position=_INT,
                ref=_STR,
                kind=_STR,
                note=_STR,
            ),
        },
    ),
    "Health": _obj(
        "status generation",
        status=_STR,
        generation=_STR,
        passages=_INT,
        keyword_backend=_STR,
        dense=_BOOL,
    ),
}


def _op(
    summary: str,
    params,
    ok: str | dict | None,
    errors=(),
    *,
    status: int = 200,
    body: dict | None = None,
    media=("application/json",),
) -> dict:
    """An operation answering `status` with `ok` (a schema or its name; None: no content)."""
    responses: dict[str, Any] = {str(status): {"description": summary}}
    if ok is not None:
        schema = _ref(ok) if isinstance(ok, str) else ok
        responses[str(status)]["content"] = {m: {"schema": schema} for m in media}
    for code in errors:
        responses[str(code)] = {
            "description": "Error",
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    op: dict[str, Any] = {"summary": summary, "parameters": list(params), "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def spec(settings: Settings | None = None) -> dict[str, Any]:
    """The document, with the limits of `settings` (the defaults when not given)."""
    settings = settings or Settings()
    return _filled(_document(), settings)


def _filled(node: Any, settings: Settings) -> Any:
    if isinstance(node, _Setting):
        return getattr(settings, str(node))
    if isinstance(node, dict):
        return {k: _filled(v, settings) for k, v in node.items()}
    if isinstance(node, list):
        return [_filled(v, settings) for v in node]
    return node


def _document() -> dict[str, Any]:
    """The document."""
    doc_id = _path("doc_id")
    name = _path("name")
    # SQLite's integer range: larger ids cannot exist.
    item = _path("item_id", {"type": "integer", "minimum": 0, "maximum": 2**63 - 1})
    case_id = _path("case_id")
    collection_name = {"type": "string", "pattern": f"^{NAME_RE.pattern}$"}
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
                "get": _op(
                    "Ranked, cited passages with facet counts; without a query, a list of what "
                    "the filters match; format=csv exports every result",
                    _LIST_PARAMS,
                    "Search",
                    (400,),
                    media=("application/json", "text/csv"),
                ),
                "post": _op(
                    "Search with a JSON body", [], "Search", (400,), body=_SEARCH_LIST_BODY
                ),
            },
            "/api/answer": {
                "get": _op(
                    "Answer sentences with citations, or an abstention",
                    _SEARCH_PARAMS,
                    "Answer",
                    (400,),
                ),
                "post": _op("Answer with a JSON body", [], "Answer", (400,), body=_SEARCH_BODY),
            },
            "/api/documents/{doc_id}": {
                "get": _op(
                    "A document version: its passages and metadata",
                    [doc_id, _q("version", _STR, "Version id or label; current by default")],
                    "Document",
                    (404,),
                )
            },
            "/api/documents/{doc_id}/diff": {
                "get": _op(
                    "What changed between two versions: sections and words",
                    [
                        doc_id,
                        _q("from", _STR, "Older version id or label"),
                        _q("to", _STR, "Newer version id or label (default current)"),
                    ],
                    "Diff",
                    (400, 404),
                )
            },
            "/api/documents/{doc_id}/impact": {
                "get": _op(
                    "What a change touches: guidance, rulings and collections per section "
                    "(policy users); format=csv exports it",
                    [
                        doc_id,
                        _q("from", _STR, "Older version id or label"),
                        _q("to", _STR, "Newer version id or label, a draft too (default current)"),
                        _q("format", {"type": "string", "enum": ["json", "csv"]}, "json or csv"),
                    ],
                    _obj(
                        "doc_id from to rulings_now_outdated sections",
                        doc_id=_STR,
                        **{"from": _VERSION, "to": _VERSION},
                        rulings_now_outdated=_STRS,
                        sections={"type": "array", "items": _obj("kind heading", kind=_STR)},
                    ),
                    (400, 403, 404),
                    media=("application/json", "text/csv"),
                )
            },
            "/api/passages/{passage_id}": {
                "get": _op("One passage and its document", [_path("passage_id")], "Passage", (404,))
            },
            "/api/rulings/{case_id}/teaching": {
                "put": _op(
                    "Flag a ruling as a teaching example",
                    [case_id],
                    _obj("case_id teaching_example", case_id=_STR, teaching_example=_BOOL),
                    (400, 404, 503),
                    body=_obj("teaching_example", teaching_example=_BOOL, note=_STR),
                )
            },
            "/api/rulings/{case_id}/statement": {
                "get": _op(
                    "A ruling's statement of reasons: decision, facts, grounds from its clauses",
                    [case_id],
                    _obj(
                        "case_id decision_date outcome decision facts grounds text",
                        case_id=_STR,
                        grounds={"type": "array", "items": _obj("clause_id", clause_id=_STR)},
                        reason_codes=_STRS,
                        text=_STR,
                    ),
                    (404,),
                )
            },
            "/api/rulings/similar": {
                "get": _op(
                    "The closest rulings with outcomes, and the outcome distribution",
                    [
                        _q("q", _QUERY, "A case description (or give case_id)."),
                        _q("case_id", _STR, "Or: a ruling whose facts to match."),
                        *_OPTIONS,
                    ],
                    "Similar",
                    (400, 404),
                )
            },
            "/api/consistency": {
                "get": _op(
                    "Near-identical rulings with divergent outcomes: open and settled groups "
                    "(policy users); format=csv exports the open ones",
                    [
                        _q("surface", _STR, "Only groups on this surface."),
                        _q("region", _STR, "Only groups with a ruling from this region."),
                        _q("clause", _STR, "Only groups applying a clause with this id prefix."),
                        _q("format", {"type": "string", "enum": ["json", "csv"]}, "json or csv"),
                    ],
                    "Consistency",
                    (400, 401, 403),
                    media=("application/json", "text/csv"),
                )
            },
            "/api/consistency/resolve": {
                "post": _op(
                    "Settle a group: the outcome that stands, or both, and why (policy users)",
                    [],
                    _obj(
                        "case_ids standing note resolved_by resolved_at",
                        case_ids=_STRS,
                        standing=_STR,
                        note=_STR,
                        resolved_by=_STR,
                        resolved_at=_STR,
                    ),
                    (400, 401, 403, 404, 503),
                    body=_obj(
                        "case_id standing note",
                        case_id=_TEXT_NOT_BLANK,
                        standing=_TEXT_NOT_BLANK,
                        note=_TEXT_NOT_BLANK,
                    ),
                )
            },
            "/api/collections": {
                "get": _op("Every collection", [], "Collections"),
                "post": _op(
                    "Create a collection",
                    [],
                    _obj("name", name=_STR),
                    (400, 409, 503),
                    status=201,
                    body=_obj("name", name=collection_name, description=_TEXT),
                ),
            },
            "/api/collections/{name}": {
                "get": _op("A collection's items with citations", [name], "Collection", (404,)),
                "delete": _op("Delete a collection", [name], None, (404, 503), status=204),
                "patch": _op(
                    "Rename a collection and/or change its description",
                    [name],
                    _obj("name", name=_STR),
                    (400, 404, 409, 503),
                    body=_obj(
                        "",
                        name=collection_name,
                        description=_TEXT,
                    ),
                ),
            },
            "/api/collections/{name}/items": {
                "post": _op(
                    "Add a passage (by id) or a ruling (by case id)",
                    [name],
                    _obj("item_id", item_id=_INT),
                    (400, 404, 409, 503),
                    status=201,
                    body=_obj("ref", ref=_TEXT_NOT_BLANK, note=_TEXT),
                )
            },
            "/api/collections/{name}/items/{item_id}": {
                "patch": _op(
                    "Annotate or reorder an item",
                    [name, item],
                    _obj("item_id", item_id=_INT),
                    (400, 404, 503),
                    body=_obj("", note=_TEXT, position=_INT),
                ),
                "delete": _op("Remove an item", [name, item], None, (404, 503), status=204),
            },
            "/api/collections/{name}/export": {
                "get": _op(
                    "Markdown or CSV with full citations",
                    [
                        name,
                        {**_q("format", _FORMAT, "md or csv"), "allowEmptyValue": False},
                        _q("bom", _BOOL, "Start a CSV with a UTF-8 byte-order mark (Excel)."),
                    ],
                    _STR,
                    (400, 404),
                    media=("text/markdown", "text/csv"),
                )
            },
            "/api/feedback": {
                "get": _op(
                    "Your judgments of results; all=1 (policy users): everyone's, with hot spots",
                    [_q("all", _BOOL, "Everyone's judgments and the hot spots (policy users).")],
                    _obj("feedback", feedback={"type": "array", "items": {"type": "object"}}),
                    (400, 403),
                ),
                "post": _op(
                    "Judge a result: helpful, not_helpful or wrong_clause (with the right one)",
                    [],
                    _obj("feedback_id", feedback_id=_INT),
                    (400, 404, 503),
                    status=201,
                    body=_obj(
                        "q passage_id verdict",
                        q={**_TEXT_NOT_BLANK, "maxLength": 1000},
                        passage_id=_TEXT_NOT_BLANK,
                        verdict={"type": "string", "enum": list(VERDICTS)},
                        right_clause={"type": ["string", "null"], "pattern": _NO_NUL},
                        note={**_TEXT, "maxLength": 2000},
                    ),
                ),
            },
            "/api/trends": {
                "get": _op(
                    "Rulings per month by policy area, outcome, region, surface and tier, the "
                    "overturn rate and new patterns; format=csv exports them",
                    [
                        *(
                            _q(key, _STR, f"Only rulings with this {key.replace('_', ' ')}.")
                            for key in ("policy_area", "outcome", "region", "surface")
                        ),
                        _q("reviewer_tier", _STR, "Only rulings decided at this tier."),
                        _q("format", {"type": "string", "enum": ["json", "csv"]}, "json or csv"),
                    ],
                    _obj("months totals", months=_STRS, totals={"type": "array"}),
                    (400,),
                    media=("application/json", "text/csv"),
                )
            },
            "/api/usage": {
                "get": _op(
                    "Searches per day, speed, abstentions, top questions and filters (policy)",
                    [_q("since", _DATE, "From this date.")],
                    _obj("days searches", days={"type": "array"}, searches=_INT),
                    (400, 403),
                )
            },
            "/api/gaps": {
                "get": _op(
                    "Unanswered questions grouped into topics (policy); format=csv exports them",
                    [
                        _q("since", _DATE, "From this date."),
                        _q("format", {"type": "string", "enum": ["json", "csv"]}, "json or csv"),
                    ],
                    _obj("gaps", gaps={"type": "array"}),
                    (400, 403),
                    media=("application/json", "text/csv"),
                )
            },
            "/api/audit": {
                "get": _op(
                    "The audit log, newest first (admins); format=csv exports it",
                    [
                        _q("user", _STR, "Only this user's events."),
                        _q("action", _STR, "Only this action (search, view, export...)."),
                        _q("since", _DATE, "From this date (UTC)."),
                        _q("until", _DATE, "Up to this date, inclusive (UTC)."),
                        _q(
                            "limit",
                            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                            "Page size.",
                        ),
                        _q(
                            "before",
                            {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
                            "Events older than this event id (paging).",
                        ),
                        _q("format", {"type": "string", "enum": ["json", "csv"]}, "json or csv"),
                    ],
                    _obj("events filters", events={"type": "array"}, filters={"type": "object"}),
                    (400, 401, 403),
                    media=("application/json", "text/csv"),
                )
            },
            "/api/review": {
                "get": _op(
                    "What needs review: past review dates, stale guidance, outdated rulings "
                    "(policy users); format=csv exports it",
                    [
                        _q("owner", _STR, "Only documents this owner keeps."),
                        _q("format", {"type": "string", "enum": ["json", "csv"]}, "json or csv"),
                    ],
                    _obj("items", items={"type": "array", "items": _obj("doc_id reasons")}),
                    (400, 401, 403),
                    media=("application/json", "text/csv"),
                )
            },
            "/api/health": {"get": _op("Liveness and what is being served", [], "Health")},
            "/api/openapi.json": {"get": _op("This document", [], {"type": "object"})},
        },
        "components": {"schemas": _SCHEMAS},
    }
