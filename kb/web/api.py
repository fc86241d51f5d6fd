"""The JSON API under /api (its OpenAPI document is at /api/openapi.json)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from werkzeug.datastructures import MultiDict

from kb.blank import is_blank
from kb.errors import NotFoundError, QueryError
from kb.web import views
from kb.web.auth import check_role, gate, require, signed_in
from kb.web.openapi import spec
from kb.web.state import kb

bp = Blueprint("api", __name__)


def _args():
    if request.method == "POST":
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise QueryError("the request body must be a JSON object")
        return body
    return request.args


@bp.route("/search", methods=["GET", "POST"])
def search():
    """Ranked, cited passages."""
    state = kb()
    req = state.request(_args())
    response, facets = views.run_search(state.searcher, req)
    views.scrub_hits(state.service.hits(response.results), gate())
    body = response.to_dict()
    body["facets"] = {k: dict(v) for k, v in facets.items()}
    return jsonify(body)


@bp.route("/answer", methods=["GET", "POST"])
def answer():
    """An extractive, cited answer or an abstention."""
    state = kb()
    req = state.request(_args())
    if is_blank(req.query):
        raise QueryError("the query is empty")
    answer = state.answerer.answer(req.query, req.filters)
    state.service.hits(answer.precedents)
    return jsonify(answer.to_dict())


@bp.get("/documents/<doc_id>")
def document(doc_id: str):
    """A document version (current by default; `?version=` takes an id or a label)."""
    state = kb()
    view = views.document_view(state.searcher, doc_id, request.args.get("version"), gate())
    return jsonify(views.document_json(state.service.document_view(view)))


@bp.get("/documents/<doc_id>/diff")
@require("policy")
def document_diff(doc_id: str):
    """Section-aware diff between two versions (`from`, `to`: ids or labels)."""
    from kb.versions import diff_versions

    result = diff_versions(
        kb().searcher.catalog, doc_id, request.args.get("from"), request.args.get("to")
    )
    return jsonify(result.to_dict())


@bp.get("/passages/<passage_id>")
def passage(passage_id: str):
    """One passage with its citation."""
    state = kb()
    p = gate().passage_or_404(passage_id)
    body = views.passage_json(p)
    view = state.service.document_view(
        views.document_view(state.searcher, p.doc_id, str(p.version_id), gate())
    )
    body["document"] = {
        k: v
        for k, v in views.document_json(view).items()
        if k in ("doc_id", "title", "doc_type", "version")
    }
    return jsonify(body)


@bp.put("/rulings/<case_id>/teaching")
@require("policy")
def teaching(case_id: str):
    """Flag (or unflag) a ruling as a good teaching example: {"teaching_example", "note"}."""
    state = kb()
    body = _json()
    if not isinstance(body.get("teaching_example"), bool):
        raise QueryError("teaching_example must be true or false")
    state.service.set_teaching(case_id, body["teaching_example"], str(body.get("note", "")))
    return jsonify({"case_id": case_id, "teaching_example": body["teaching_example"]})


@bp.get("/rulings/similar")
def similar_rulings():
    """Rulings closest to a case description (`q`) or to a ruling (`case_id`)."""
    from kb.precedents import similar_rulings as find

    state = kb()
    args = request.args
    case_id = args.get("case_id")
    text = args.get("q", "")
    if case_id:
        try:
            ruling = state.searcher.catalog.current_ruling(case_id)
        except NotFoundError:
            ruling = None
        if ruling is None or not gate().document(case_id):
            raise NotFoundError(f"no ruling {case_id!r}")
        text = ruling["facts"]
    query = MultiDict(args)
    query.poplist("case_id")
    query.setlist("q", [text])
    req = state.request(query)
    hits, outcomes = find(state.searcher, req.query, k=req.k, filters=req.filters, exclude=case_id)
    views.scrub_hits(state.service.hits(hits), gate())
    return jsonify(
        {"query": req.query, "outcomes": dict(outcomes), "rulings": [h.to_dict() for h in hits]}
    )


@bp.get("/consistency")
@require("policy")
def consistency():
    """Groups of near-identical rulings with diverging, unexplained outcomes."""
    from kb.precedents import consistency_report

    groups = consistency_report(kb().searcher)
    return jsonify({"groups": [g.to_dict() for g in groups if g.inconsistent]})


@bp.route("/collections", methods=["GET", "POST"])
def collections():
    """List collections, or create one from {"name", "description"}."""
    store = kb().collections
    if request.method == "POST":
        check_role("policy")
        body = _json()
        name = _text(body, "name", required=True)
        store.create(name, _text(body, "description"))
        return jsonify({"name": name}), 201
    return jsonify({"collections": store.names(gate().item)})


@bp.route("/collections/<name>", methods=["GET", "DELETE"])
def collection(name: str):
    """A collection's items with citations; DELETE removes it."""
    state = kb()
    if request.method == "DELETE":
        check_role("policy")
        state.collections.delete(name)
        return "", 204
    items = state.collections.items(name, state.searcher.catalog, gate().item)
    return jsonify({"name": name, "items": [i.to_dict() for i in items]})


@bp.post("/collections/<name>/items")
@require("policy")
def collection_add(name: str):
    """Append {"ref": passage id or ruling case id, "note"}."""
    state = kb()
    body = _json()
    item_id = state.collections.add(
        name, _text(body, "ref", required=True), state.searcher.catalog, _text(body, "note")
    )
    return jsonify({"item_id": item_id}), 201


# SQLite's integer range: a larger id cannot exist (404, not an overflow).
@bp.route(
    "/collections/<name>/items/<int(max=9223372036854775807):item_id>", methods=["PATCH", "DELETE"]
)
@require("policy")
def collection_item(name: str, item_id: int):
    """PATCH {"note"} and/or {"position"}; DELETE removes the item."""
    store = kb().collections
    if request.method == "DELETE":
        store.remove(name, item_id)
        return "", 204
    body = _json()
    store.require_item(name, item_id)  # an empty patch of a missing item is still a 404
    if "note" in body:
        store.annotate(name, item_id, _text(body, "note"))
    if "position" in body:
        if not isinstance(body["position"], int):
            raise QueryError("position must be an integer")
        store.move(name, item_id, body["position"])
    return jsonify({"item_id": item_id})


@bp.get("/collections/<name>/export")
def collection_export(name: str):
    """The collection as Markdown (`format=md`) or CSV (`format=csv`) with full citations."""
    state = kb()
    fmt = request.args.get("format", "md")
    text = state.collections.export(name, state.searcher.catalog, fmt, gate().item)
    mime = "text/csv" if fmt == "csv" else "text/markdown"
    return (
        text,
        200,
        {
            "Content-Type": f"{mime}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
        },
    )


@bp.get("/audit")
@require("admin")
def audit():
    """The audit log, newest first (filters: user, action, since, until, limit, before);
    `format=csv` exports it."""
    from kb.web.admin import audit_csv, audit_query

    events, filters = audit_query(request.args)
    if request.args.get("format") == "csv":
        g.kb_action = "export"
        return audit_csv(events)
    return jsonify({"filters": filters, "events": events})


def _text(body: dict, field: str, *, required: bool = False) -> str:
    """A string field of a JSON body ("" when absent and not required)."""
    value = body.get(field, None if required else "")
    if not isinstance(value, str) or (required and is_blank(value)):
        raise QueryError(f"{field} must be a{' non-empty' if required else ''} string")
    return value


def _json() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise QueryError("the request body must be a JSON object")
    return body


@bp.get("/health")
def health():
    """Liveness plus what is being served (sizes only for those who may see everything:
    a total counts restricted passages too)."""
    searcher = kb().searcher
    body = {"status": "ok", "generation": searcher.generation.name}
    user = signed_in()
    if user is not None and user.can("policy"):
        body |= {
            "passages": len(searcher.ids),
            "keyword_backend": searcher.manifest.keyword.backend,
            "dense": searcher.manifest.dense is not None,
        }
    return jsonify(body)


@bp.get("/openapi.json")
def openapi():
    """This API's OpenAPI 3.1 description."""
    return jsonify(spec(kb().settings))
