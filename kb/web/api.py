"""The JSON API under /api (its OpenAPI document is at /api/openapi.json)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from werkzeug.datastructures import MultiDict

from kb.blank import is_blank
from kb.errors import QueryError
from kb.web import params, views
from kb.web.auth import current, require, signed_in
from kb.web.openapi import spec
from kb.web.state import kb

bp = Blueprint("api", __name__)
EXPORT_ROWS = 10_000  # rows of a list exported as CSV, at most


def _args():
    if request.method == "POST":
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise QueryError("the request body must be a JSON object")
        return body
    return request.args


@bp.route("/search", methods=["GET", "POST"])
def search():
    """Ranked, cited passages; without a query, everything the filters match, a row per
    clause, section or ruling (`format=csv`: all of it, up to EXPORT_ROWS)."""
    state = kb()
    req = state.request(_args())
    if request.method == "GET" and _wants_csv():
        # Everything there is: a query's whole candidate pool, or the whole list.
        k = EXPORT_ROWS if is_blank(req.query) else state.settings.fetch_k
        args = {**views.search_args(req), "k": k, "offset": 0, "facets": ()}
        found = state.service.search(req.query, current(), **args)
        return views.attachment(
            views.results_csv(found.response.results, request.url_root), "results.csv"
        )
    found = state.service.search(req.query, current(), **views.search_args(req))
    g.kb_outcome = views.outcome(found)
    body = found.response.to_dict()
    body.update(total=found.total, page=req.page, sort=found.sort)
    body["facets"] = {k: dict(v) for k, v in found.facets.items()}
    return jsonify(body)


@bp.route("/answer", methods=["GET", "POST"])
def answer():
    """An extractive, cited answer or an abstention."""
    state = kb()
    req = state.request(_args())
    if is_blank(req.query):
        raise QueryError("the query is empty")
    answer = state.service.answer(req.query, current(), req.filters)
    g.kb_outcome = {"answered": answer.answered}
    return jsonify(answer.to_dict())


@bp.get("/documents/<doc_id>")
def document(doc_id: str):
    """A document version (current by default; `?version=` takes an id or a label)."""
    view = kb().service.document(doc_id, current(), request.args.get("version"))
    return jsonify(view.to_dict())


@bp.get("/documents/<doc_id>/diff")
@require("policy")
def document_diff(doc_id: str):
    """Section-aware diff between two versions (`from`, `to`: ids or labels)."""
    args = request.args
    result = kb().service.diff(doc_id, current(), args.get("from"), args.get("to"))
    return jsonify(result.to_dict())


@bp.get("/documents/<doc_id>/impact")
@require("policy")
def document_impact(doc_id: str):
    """What a change touches (`from`, `to` as for the diff); `format=csv` exports it."""
    args = request.args
    result = kb().service.impact(doc_id, current(), args.get("from"), args.get("to"))
    if _wants_csv():
        return views.attachment(result.to_csv(), f"{doc_id}-impact.csv")
    return jsonify(result.to_dict())


@bp.get("/passages/<passage_id>")
def passage(passage_id: str):
    """One passage with its citation."""
    p, view = kb().service.passage(passage_id, current())
    return jsonify(p.to_dict() | {"document": view.to_dict(passages=False)})


@bp.put("/rulings/<case_id>/teaching")
@require("policy")
def teaching(case_id: str):
    """Flag (or unflag) a ruling as a good teaching example: {"teaching_example", "note"}."""
    state = kb()
    body = _json()
    if not isinstance(body.get("teaching_example"), bool):
        raise QueryError("teaching_example must be true or false")
    state.service.set_teaching(
        case_id, body["teaching_example"], current(), str(body.get("note", ""))
    )
    return jsonify({"case_id": case_id, "teaching_example": body["teaching_example"]})


@bp.get("/rulings/<case_id>/statement")
def ruling_statement(case_id: str):
    """A ruling's statement of reasons: decision, facts and grounds from its clauses."""
    return jsonify(kb().service.statement(case_id, current()).to_dict())


@bp.get("/rulings/similar")
def similar_rulings():
    """Rulings closest to a case description (`q`) or to a ruling (`case_id`)."""
    state = kb()
    args = request.args
    case_id = args.get("case_id")
    text = args.get("q", "")
    if case_id:
        text = state.service.ruling(case_id, current()).facts
    query = MultiDict(args)
    query.poplist("case_id")
    query.setlist("q", [text])
    req = state.request(query)
    found = state.service.similar(
        current(), req.query, case_id=case_id, k=req.k, filters=req.filters
    )
    return jsonify(found.to_dict())


@bp.get("/consistency")
@require("policy")
def consistency():
    """Groups of near-identical rulings with diverging, unexplained outcomes: the open ones,
    and those settled (`format=csv`: one row per ruling of the open groups)."""
    from kb.precedents import report_csv

    groups = kb().service.consistency(current(), **_report_filters())
    if _wants_csv():
        return views.attachment(report_csv([g for g in groups if g.open]), "consistency.csv")
    return jsonify(
        {
            "groups": [g.to_dict() for g in groups if g.open],
            "resolved": [g.to_dict() for g in groups if g.inconsistent and g.resolution],
        }
    )


@bp.post("/consistency/resolve")
@require("policy")
def resolve():
    """Settle a group: {"case_id" (any ruling of it), "standing" (outcome or both), "note"}."""
    body = _json()
    resolution = kb().service.resolve(
        _text(body, "case_id", required=True),
        _text(body, "standing", required=True),
        _text(body, "note", required=True),
        current(),
    )
    return jsonify(resolution.to_dict())


@bp.get("/review")
@require("policy")
def review():
    """What needs review (`owner=` narrows it); `format=csv` exports it."""
    from kb.review import to_csv

    items = kb().service.review(current(), request.args.get("owner"))
    if _wants_csv():
        return views.attachment(to_csv(items), "review.csv")
    return jsonify({"items": [i.to_dict() for i in items]})


@bp.route("/collections", methods=["GET", "POST"])
def collections():
    """List collections, or create one from {"name", "description"}."""
    service = kb().service
    if request.method == "POST":
        body = _json()
        name = _text(body, "name", required=True)
        service.create_collection(name, current(), _text(body, "description"))
        return jsonify({"name": name}), 201
    return jsonify({"collections": service.collection_names(current())})


@bp.route("/collections/<name>", methods=["GET", "DELETE", "PATCH"])
def collection(name: str):
    """A collection's items with citations; DELETE removes it; PATCH {"name",
    "description"} renames it and/or describes it anew."""
    service = kb().service
    if request.method == "DELETE":
        service.delete_collection(name, current())
        return "", 204
    if request.method == "PATCH":
        body = _json()
        # A name given must be one: "" renames nothing and is refused, not ignored.
        new_name = _text(body, "name", required=True) if "name" in body else name
        description = _text(body, "description") if "description" in body else None
        service.rename_collection(name, current(), new_name, description)
        return jsonify({"name": new_name})
    items = service.collection(name, current())
    return jsonify({"name": name, "items": [i.to_dict() for i in items]})


@bp.post("/collections/<name>/items")
@require("policy")
def collection_add(name: str):
    """Append {"ref": passage id or ruling case id, "note"}."""
    body = _json()
    item_id = kb().service.add(
        name, _text(body, "ref", required=True), current(), _text(body, "note")
    )
    return jsonify({"item_id": item_id}), 201


# SQLite's integer range: a larger id cannot exist (404, not an overflow).
@bp.route(
    "/collections/<name>/items/<int(max=9223372036854775807):item_id>", methods=["PATCH", "DELETE"]
)
@require("policy")
def collection_item(name: str, item_id: int):
    """PATCH {"note"} and/or {"position"}; DELETE removes the item."""
    service = kb().service
    if request.method == "DELETE":
        service.remove_item(name, item_id, current())
        return "", 204
    body = _json()
    note = _text(body, "note") if "note" in body else None
    position = body.get("position")
    if "position" in body and (not isinstance(position, int) or isinstance(position, bool)):
        raise QueryError("position must be an integer")
    service.edit_item(name, item_id, current(), note=note, position=position)
    return jsonify({"item_id": item_id})


@bp.get("/collections/<name>/export")
def collection_export(name: str):
    """The collection as Markdown (`format=md`) or CSV (`format=csv`) with full citations."""
    fmt = request.args.get("format", "md")
    bom = params.flag(request.args, "bom")
    text = kb().service.export(name, fmt, current(), base_url=request.url_root, bom=bom)
    mime = "text/csv" if fmt == "csv" else "text/markdown"
    return views.attachment(text, f"{name}.{fmt}", mime)


@bp.route("/feedback", methods=["GET", "POST"])
def feedback():
    """POST {"q", "passage_id", "verdict", "right_clause", "note"}: judge a result. GET: your
    judgments; `all=1` (policy users) everyone's, with the hot spots."""
    service = kb().service
    user = current()
    if request.method == "POST":
        g.kb_action = "feedback"
        body = _json()
        right = body.get("right_clause")
        if right is not None and not isinstance(right, str):
            raise QueryError("right_clause must be a string")
        if right is not None:
            _storable("right_clause", right)
        feedback_id = service.give_feedback(
            user,
            _text(body, "q", required=True),
            _text(body, "passage_id", required=True),
            _text(body, "verdict", required=True),
            right,
            _text(body, "note"),
        )
        return jsonify({"feedback_id": feedback_id}), 201
    everyone = params.flag(request.args, "all")
    out = {"feedback": [e.to_dict() for e in service.feedback(user, everyone=everyone)]}
    if everyone:
        out["hotspots"] = [s.to_dict() for s in service.feedback_hotspots(user)]
    return jsonify(out)


@bp.get("/trends")
def trends():
    """Rulings per month by dimension, overturn rate, new patterns; `format=csv` exports
    them."""
    from kb.trends import FILTERS

    wanted = {key: request.args.get(key) or None for key in FILTERS}
    found = kb().service.trends(current(), **wanted)
    if _wants_csv():
        return views.attachment(found.to_csv(), "trends.csv")
    return jsonify(found.to_dict())


@bp.get("/usage")
@require("policy")
def usage():
    """Searches per day (volume, speed, abstentions), top questions and filters."""
    since = params.date_param(request.args.get("since") or None, "since")
    return jsonify(kb().service.usage(current(), since).to_dict())


@bp.get("/gaps")
@require("policy")
def gaps():
    """Unanswered questions by topic; `format=csv` exports them."""
    from kb.analytics import gaps_csv

    since = params.date_param(request.args.get("since") or None, "since")
    topics = kb().service.gaps(current(), since)
    if _wants_csv():
        return views.attachment(gaps_csv(topics), "gaps.csv")
    return jsonify({"gaps": [t.to_dict() for t in topics]})


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


def _report_filters() -> dict[str, str | None]:
    """The consistency report's filters from the query string (surface, region, clause)."""
    return {key: request.args.get(key) or None for key in ("surface", "region", "clause")}


def _wants_csv() -> bool:
    """`format=csv` asked for (json, the default, otherwise; anything else is a 400)."""
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv", ""):
        raise QueryError(f"unknown format {fmt!r}; valid: json, csv")
    return fmt == "csv"


def _text(body: dict, field: str, *, required: bool = False) -> str:
    """A string field of a JSON body ("" when absent and not required)."""
    value = body.get(field, None if required else "")
    if not isinstance(value, str) or (required and is_blank(value)):
        raise QueryError(f"{field} must be a{' non-empty' if required else ''} string")
    return _storable(field, value)


def _storable(field: str, value: str) -> str:
    """Text to store: no NUL character, which PostgreSQL cannot store (SQLite could), so
    both backends refuse it alike."""
    if "\x00" in value:
        raise QueryError(f"{field} holds a NUL character (\\x00), which cannot be stored")
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
    return jsonify({"status": "ok"} | kb().service.serving(signed_in()))


@bp.get("/openapi.json")
def openapi():
    """This API's OpenAPI 3.1 description."""
    return jsonify(spec(kb().settings))
