"""The pages: search (works without JavaScript), document and ruling views."""

from __future__ import annotations

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from markupsafe import Markup

from kb.blank import is_blank
from kb.errors import ConflictError, KBError, NotFoundError, QueryError
from kb.types import page_anchor
from kb.web import params, render, views
from kb.web.auth import current, require
from kb.web.state import kb

bp = Blueprint("ui", __name__)


@bp.get("/")
def search():
    """The search page; with ?q= it shows the answer card and grouped, cited results."""
    state = kb()
    service = state.service
    context = {
        "q": request.args.get("q", ""),
        "args": request.args,
        "facets": {},
        "facet_labels": params.FACETS,
        "groups": [],
        "answer": None,
        "response": None,
        "error": None,
        "pages": None,
        "sort": "relevance",
        "browsing": False,
    }
    try:
        req = state.request(request.args, default_k=20)
        browsing = is_blank(req.query) and views.filtered(req)
    except QueryError as exc:
        req, browsing, context["error"] = None, False, str(exc)
    # A clause, case or document id typed alone opens it (`?exact=0` searches for it instead).
    if req is not None and not browsing and request.args.get("exact") != "0":
        found = service.locate(req.query, current())
        if found is not None:
            kind, ref = found
            if kind == "clause":
                return redirect(url_for("ui.passage", passage_id=ref))
            return redirect(url_for("ui.document", doc_id=ref))
    if req is not None and (not is_blank(req.query) or browsing):
        try:
            found = service.search(req.query, current(), **views.search_args(req))
            context.update(
                response=found.response,
                facets=found.facets,
                groups=views.group_hits(found.response.results),
                pages=views.Pages(req.page, req.k, found.total, len(found.response.results)),
                sort=found.sort,
                browsing=browsing,
                # Rulings only: an answer from policy passages is not what was asked for.
                answer=None
                if browsing or req.filters.terms.get("type") == ["ruling"]
                else service.answer(req.query, current(), req.filters),
            )
            g.kb_outcome = views.outcome(found, context["answer"])
        except QueryError as exc:
            context["error"] = str(exc)
    selected = {key: set(request.args.getlist(key)) for key, _ in params.FACETS}
    return render_template(
        "search.html", selected=selected, collection_names=_collection_names(), **context
    )


@bp.app_template_global()
def url_with(_endpoint: str | None = None, **changes) -> str:
    """This page's URL (or `_endpoint`'s, with the same query string) with some query-string
    values changed (None removes one); a change of sort or filter starts again at page 1."""
    args = request.args.copy()
    if "page" not in changes:
        args.pop("page", None)
    for key, value in changes.items():
        args.pop(key, None)
        if value is not None:
            args[key] = value
    if _endpoint:
        return url_for(_endpoint, **args.to_dict(flat=False))
    return url_for(request.endpoint, **(request.view_args or {}), **args.to_dict(flat=False))


bp.add_app_template_global(page_anchor, "page_anchor")


@bp.app_template_global()
def text_html(text: str, doc_type: str = "ruling", query: str = "") -> Markup:
    """A passage's (or a ruling field's) text as the pages show it: policy and guidance
    Markdown rendered and sanitised, rulings as written; query words marked, clause ids
    linked."""
    return Markup(
        render.passage_html(
            text,
            markdown=doc_type != "ruling",
            query=query,
            clause_ids=kb().service.clause_ids(),
            clause_url=lambda clause_id: url_for("ui.clause", clause_id=clause_id),
        )
    )


DOCUMENTS_PER_PAGE = 500


@bp.get("/documents")
def documents():
    """Every document the user may see, with type, versions, status and owner; filterable."""
    service = kb().service
    args = request.args
    kind = args.get("type") or None
    if kind not in (None, "policy", "guidance", "ruling"):
        kind = None
    everything = service.documents(current(), kind)
    owner = args.get("owner") or None
    shown = [d for d in everything if not owner or d.owner.casefold() == owner.casefold()]
    owners = sorted({d.owner for d in everything if d.owner}, key=str.casefold)
    # A large knowledge base lists tens of thousands: a page at a time.
    pages = max(1, -(-len(shown) // DOCUMENTS_PER_PAGE))
    page = min(max(args.get("page", 1, type=int) or 1, 1), pages)
    start = (page - 1) * DOCUMENTS_PER_PAGE
    return render_template(
        "documents.html",
        entries=shown[start : start + DOCUMENTS_PER_PAGE],
        total=len(shown),
        first=start + 1,
        page=page,
        pages=pages,
        kind=kind,
        owner=owner,
        owners=owners,
    )


@bp.get("/clauses/<clause_id>")
def clause(clause_id: str):
    """A clause by id: its current version, scrolled to it."""
    p = kb().service.clause(clause_id, current())
    return redirect(url_for("ui.passage", passage_id=p.passage_id))


@bp.get("/documents/<doc_id>")
def document(doc_id: str):
    """A document version with heading navigation; the arriving passage is highlighted."""
    service = kb().service
    view = service.document(doc_id, current(), request.args.get("version"))
    if view.ruling:
        found = service.similar(current(), view.ruling.facts, case_id=doc_id, k=5)
        statement = (
            service.statement(doc_id, current())
            if view.version.version_id == view.doc.current_version_id
            else None
        )
        return render_template(
            "ruling.html",
            similar=found.hits,
            outcomes=found.outcomes,
            statement=statement,
            collection_names=_collection_names(),
            **view.page(),
        )
    return render_template(
        "document.html",
        highlight=request.args.get("passage"),
        collection_names=_collection_names(),
        **view.page(),
    )


@bp.get("/documents/<doc_id>/diff")
@require("policy")
def document_diff(doc_id: str):
    """What changed between two versions, section by section, with word changes."""
    args = request.args
    result = kb().service.diff(doc_id, current(), args.get("from"), args.get("to"))
    return render_template("diff.html", diff=result)


@bp.get("/documents/<doc_id>/impact")
@require("policy")
def document_impact(doc_id: str):
    """What a change touches: guidance, rulings and collections per changed section."""
    args = request.args
    result = kb().service.impact(doc_id, current(), args.get("from"), args.get("to"))
    return render_template("impact.html", impact=result, diff=result.diff)


@bp.get("/rulings/similar")
def similar():
    """Rulings most like a case description, with the outcome distribution."""
    state = kb()
    q = request.args.get("q", "")
    hits, outcomes, error = [], None, None
    if not is_blank(q):
        try:
            req = state.request(request.args)
            found = state.service.similar(current(), req.query, k=req.k, filters=req.filters)
            hits, outcomes = found.hits, found.outcomes
        except QueryError as exc:
            error = str(exc)
    return render_template("similar.html", q=q, hits=hits, outcomes=outcomes, error=error)


@bp.route("/collections", methods=["GET", "POST"])
def collections():
    """Every collection; POST (policy role) creates one from the form."""
    service = kb().service
    if request.method == "POST":
        form = request.form
        name = form.get("name", "").strip()
        g.kb_action = "edit"
        service.create_collection(name, current(), form.get("description", "").strip())
        return redirect(url_for("ui.collection", name=name))
    names = service.collection_names(current())
    return render_template("collections.html", collections=names, name=None, items=[])


@bp.get("/collections/<name>")
def collection(name: str):
    """One collection's items with citations and notes, tools to change them, and exports."""
    service = kb().service
    items = service.collection(name, current())
    description = service.collection_description(name, current())
    return render_template(
        "collections.html", collections=[], name=name, items=items, description=description
    )


@bp.post("/collections/<name>/edit")
@require("policy")
def collection_edit(name: str):
    """Rename a collection and/or describe it anew (form: name, description)."""
    form = request.form
    new_name = form.get("name", "").strip() or name
    kb().service.rename_collection(name, current(), new_name, form.get("description"))
    return redirect(url_for("ui.collection", name=new_name))


@bp.post("/collections/<name>/delete")
@require("policy")
def collection_delete(name: str):
    """Delete a collection and its items."""
    kb().service.delete_collection(name, current())
    flash(f"Deleted the collection {name!r}.")
    return redirect(url_for("ui.collections"))


@bp.post("/collections/<name>/items/<int(max=9223372036854775807):item_id>")
@require("policy")
def collection_item(name: str, item_id: int):
    """Change one item (form `action`): note (with `note`), up, down, top, or remove."""
    service = kb().service
    action = request.form.get("action", "")
    items = service.collection(name, current())
    where = next((i.position for i in items if i.item_id == item_id), None)
    if where is None:
        raise NotFoundError(f"collection {name!r} has no item {item_id}")
    moves = {"up": where - 1, "down": where + 1, "top": 1}
    if action == "note":
        service.edit_item(
            name, item_id, current(), note=request.form.get("note", ""), position=None
        )
    elif action in moves:
        # Positions count every item, also those this user may not see: move past the
        # neighbour they see.
        shown = [i.item_id for i in items]
        target = max(1, min(len(shown), moves[action]))
        anchor = items[target - 1].item_id
        position = service.item_position(name, anchor, current())
        service.edit_item(name, item_id, current(), note=None, position=position)
    elif action == "remove":
        service.remove_item(name, item_id, current())
        flash("Removed the item.")
        return redirect(url_for("ui.collection", name=name))
    else:
        raise QueryError(f"unknown action {action!r}; valid: note, up, down, top, remove")
    return redirect(url_for("ui.collection", name=name, _anchor=f"item-{item_id}"))


@bp.post("/collections/add")
@require("policy")
def collection_add():
    """Add a result or a passage (passage id, or ruling case id) to a collection; back to
    the page it came from (`next`), or a JSON answer to the page's script."""
    form = request.form
    name = form.get("collection", "")
    ref = form.get("ref", "")
    try:
        kb().service.add(name, ref, current(), form.get("note", ""))
        message, status = f"Added to {name}.", 201
    except ConflictError:
        message, status = f"Already in {name}: nothing added.", 409
    if _fetching():
        return jsonify({"message": message}), status
    flash(message)
    # Back where the button was: a passage on a document page, a result card on the search
    # page (a ruling's card is named by its facts passage: the page top then).
    on_document = form.get("next", "").startswith("/documents/")
    return _back(ref if on_document else f"hit-{ref}", url_for("ui.collection", name=name))


@bp.route("/feedback", methods=["GET", "POST"])
def feedback():
    """POST: a judgment of a result from the search page (`judgment` = "PASSAGE_ID VERDICT"
    from a button, or `passage_id`, `verdict`, `right_clause`, `note` from the wrong-clause
    form); back to the page, or JSON for its script. GET: your judgments, and for policy
    users everyone's hot spots."""
    service = kb().service
    user = current()
    if request.method == "GET":
        everyone = user.can("policy")
        return render_template(
            "feedback.html",
            entries=service.feedback(user, everyone=everyone)[:200],
            spots=service.feedback_hotspots(user) if everyone else [],
            everyone=everyone,
        )
    form = request.form
    passage_id, _, verdict = form.get("judgment", "").partition(" ")
    if not passage_id:
        passage_id, verdict = form.get("passage_id", ""), form.get("verdict", "")
    g.kb_action = "feedback"
    fetching = _fetching()
    try:
        service.give_feedback(
            user,
            form.get("q", ""),
            passage_id,
            verdict,
            form.get("right_clause") or None,
            form.get("note", ""),
        )
    except (QueryError, NotFoundError) as exc:
        if not fetching:
            raise
        return jsonify({"message": str(exc)}), exc.http_status
    message = "Thanks: noted." if verdict == "helpful" else "Thanks: the policy team will see it."
    if fetching:
        return jsonify({"message": message}), 201
    flash(message)
    return _back(f"hit-{passage_id}", url_for("ui.feedback"))


def _fetching() -> bool:
    """Did the page's script send this form (it wants JSON, not a page)?"""
    return request.headers.get("X-Requested-With") == "fetch"


def _back(anchor: str, fallback: str):
    """A redirect to the page a form came from (its `next`, a path on this site only), at
    `anchor`; to `fallback` without one."""
    back = request.form.get("next", "")
    if back.startswith("/") and not back.startswith("//") and "\\" not in back:
        return redirect(back.split("#")[0] + "#" + anchor)
    return redirect(fallback)


def _svg(svg: str):
    """An SVG chart as an image response, with its own content policy (its styles are
    inline; it runs nothing)."""
    return (
        svg,
        200,
        {
            "Content-Type": "image/svg+xml; charset=utf-8",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


def _trend_filters() -> dict[str, str | None]:
    from kb.trends import FILTERS

    return {key: request.args.get(key) or None for key in FILTERS}


@bp.get("/trends")
def trends():
    """Rulings per month by policy area and outcome, the overturn rate and new patterns, as
    charts with text alternatives and CSV."""
    from kb.trends import DIMENSIONS, chart_text, label

    wanted = _trend_filters()
    by = request.args.get("by") or "policy_areas"
    if by not in DIMENSIONS or by == "outcome":
        by = "policy_areas"
    found = kb().service.trends(current(), **wanted)
    names = (by, "outcome", "overturn")
    charts = [(name, chart_text(found, name)) for name in names] if found.months else []
    breakdowns = [(d, label(d)) for d in DIMENSIONS if d != "outcome"]
    return render_template(
        "trends.html", trends=found, charts=charts, wanted=wanted, by=by, breakdowns=breakdowns
    )


@bp.get("/trends/<name>.svg")
def trend_chart(name: str):
    """One chart as an SVG image (its own content policy: its styles are inline)."""
    from kb.trends import CHARTS, chart_svg

    if name not in CHARTS:
        raise NotFoundError(f"no chart {name!r}; charts: {', '.join(CHARTS)}")
    return _svg(chart_svg(kb().service.trends(current(), **_trend_filters()), name))


@bp.get("/usage")
@require("policy")
def usage():
    """Knowledge gaps (what moderators asked and did not get answered, by topic) and search
    usage per day."""
    from kb.analytics import usage_chart_text

    service = kb().service
    since = params.date_param(request.args.get("since") or None, "since")
    found = service.usage(current(), since).to_dict()
    return render_template(
        "usage.html",
        gaps=service.gaps(current(), since),
        usage=found,
        chart_text=usage_chart_text(found),
        since=since,
    )


@bp.get("/usage/searches.svg")
@require("policy")
def usage_chart():
    """Searches per day as an SVG image."""
    from kb.analytics import usage_chart_svg

    since = params.date_param(request.args.get("since") or None, "since")
    return _svg(usage_chart_svg(kb().service.usage(current(), since).to_dict()))


@bp.post("/rulings/<case_id>/teaching")
@require("policy")
def teaching(case_id: str):
    """Flag or unflag a ruling as a teaching example from its page."""
    flagged = request.form.get("teaching_example") == "true"
    kb().service.set_teaching(case_id, flagged, current())
    return redirect(url_for("ui.document", doc_id=case_id))


@bp.get("/consistency")
@require("policy")
def consistency():
    """The consistency report: open groups side by side with their rationales, then the
    settled ones."""
    from kb.precedents import GROUP_THRESHOLD

    args = request.args
    wanted = {key: args.get(key) or None for key in ("surface", "region", "clause")}
    groups = kb().service.consistency(current(), **wanted)
    return render_template(
        "consistency.html",
        wanted=wanted,
        groups=[g for g in groups if g.open],
        settled=[g for g in groups if g.inconsistent and g.resolution],
        total=len(groups),
        threshold=GROUP_THRESHOLD,
    )


@bp.post("/consistency/resolve")
@require("policy")
def resolve():
    """Settle a group from the report's form."""
    form = request.form
    kb().service.resolve(
        form.get("case_id", ""), form.get("standing", ""), form.get("note", ""), current()
    )
    return redirect(url_for("ui.consistency"))


@bp.get("/review")
@require("policy")
def review():
    """What needs review, by owner: past review dates, stale guidance, outdated rulings."""
    service = kb().service
    owner = request.args.get("owner") or None
    owners = sorted({i.owner for i in service.review(current()) if i.owner})
    items = service.review(current(), owner)
    return render_template("review.html", items=items, owner=owner, owners=owners)


@bp.get("/passages/<passage_id>")
def passage(passage_id: str):
    """Deep link to a passage: its document version, scrolled to its section."""
    p = kb().service.gate(current()).passage_or_404(passage_id)
    return redirect(
        url_for(
            "ui.document",
            doc_id=p.doc_id,
            version=p.version_id,
            passage=p.passage_id,
            _anchor=p.passage_id,
        )
    )


def _collection_names() -> list[str]:
    """The collections a policy user may add to from a page (none for other roles)."""
    user = current()
    if not user.can("policy"):
        return []
    try:
        return [c["name"] for c in kb().service.collection_names(user)]
    except KBError:  # no user data folder to keep collections in
        return []
