"""The pages: search (works without JavaScript), document and ruling views."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from kb.access import restrict
from kb.blank import is_blank
from kb.errors import QueryError
from kb.search.filters import Filters
from kb.web import params, views
from kb.web.auth import current, gate, require
from kb.web.state import kb

bp = Blueprint("ui", __name__)


@bp.get("/")
def search():
    """The search page; with ?q= it shows the answer card and grouped, cited results."""
    state = kb()
    searcher = state.searcher
    context = {
        "q": request.args.get("q", ""),
        "args": request.args,
        "facets": {},
        "facet_labels": params.FACETS,
        "groups": [],
        "answer": None,
        "response": None,
        "error": None,
    }
    if not is_blank(context["q"]):
        try:
            req = state.request(request.args, default_k=20)
            response, facets = views.run_search(searcher, req)
            views.scrub_hits(state.service.hits(response.results), gate())
            answer = state.answerer.answer(req.query, req.filters)
            state.service.hits(answer.precedents)
            context.update(
                response=response,
                facets=facets,
                groups=views.group_hits(response.results),
                answer=answer,
            )
        except QueryError as exc:
            context["error"] = str(exc)
    selected = {key: set(request.args.getlist(key)) for key, _ in params.FACETS}
    names = [c["name"] for c in state.collections.names()] if current().can("policy") else []
    return render_template("search.html", selected=selected, collection_names=names, **context)


@bp.get("/documents/<doc_id>")
def document(doc_id: str):
    """A document version with heading navigation; the arriving passage is highlighted."""
    state = kb()
    searcher = state.searcher
    view = state.service.document_view(
        views.document_view(searcher, doc_id, request.args.get("version"), gate())
    )
    if view["ruling"]:
        from kb.precedents import similar_rulings

        similar, outcomes = similar_rulings(
            searcher,
            view["ruling"]["facts"],
            k=5,
            filters=restrict(Filters(), current()),
            exclude=doc_id,
        )
        views.scrub_hits(state.service.hits(similar), gate())
        return render_template("ruling.html", similar=similar, outcomes=outcomes, **view)
    return render_template("document.html", highlight=request.args.get("passage"), **view)


@bp.get("/documents/<doc_id>/diff")
@require("policy")
def document_diff(doc_id: str):
    """What changed between two versions, section by section, with word changes."""
    from kb.versions import diff_versions

    catalog = kb().searcher.catalog
    result = diff_versions(catalog, doc_id, request.args.get("from"), request.args.get("to"))
    return render_template("diff.html", diff=result, doc=catalog.document(doc_id))


@bp.get("/rulings/similar")
def similar():
    """Rulings most like a case description, with the outcome distribution."""
    from kb.precedents import similar_rulings

    state = kb()
    q = request.args.get("q", "")
    hits, outcomes, error = [], None, None
    if not is_blank(q):
        try:
            req = state.request(request.args)
            hits, outcomes = similar_rulings(
                state.searcher, req.query, k=req.k, filters=req.filters
            )
            views.scrub_hits(hits, gate())
        except QueryError as exc:
            error = str(exc)
    return render_template("similar.html", q=q, hits=hits, outcomes=outcomes, error=error)


@bp.get("/collections")
def collections():
    """Every collection."""
    return render_template(
        "collections.html", collections=kb().collections.names(gate().item), name=None, items=[]
    )


@bp.get("/collections/<name>")
def collection(name: str):
    """One collection's items with citations and notes, and export links."""
    state = kb()
    items = state.collections.items(name, state.searcher.catalog, gate().item)
    return render_template("collections.html", collections=[], name=name, items=items)


@bp.post("/collections/add")
@require("policy")
def collection_add():
    """Add a search result (passage id, or ruling case id) to a collection."""
    state = kb()
    name = request.form.get("collection", "")
    state.collections.add(
        name, request.form.get("ref", ""), state.searcher.catalog, request.form.get("note", "")
    )
    return redirect(url_for("ui.collection", name=name))


@bp.post("/rulings/<case_id>/teaching")
@require("policy")
def teaching(case_id: str):
    """Flag or unflag a ruling as a teaching example from its page."""
    state = kb()
    flagged = request.form.get("teaching_example") == "true"
    state.service.set_teaching(case_id, flagged)
    return redirect(url_for("ui.document", doc_id=case_id))


@bp.get("/consistency")
@require("policy")
def consistency():
    """The consistency report: inconsistent groups side by side with their rationales."""
    from kb.precedents import GROUP_THRESHOLD, consistency_report

    groups = consistency_report(kb().searcher)
    return render_template(
        "consistency.html",
        groups=[g for g in groups if g.inconsistent],
        total=len(groups),
        threshold=GROUP_THRESHOLD,
    )


@bp.get("/passages/<passage_id>")
def passage(passage_id: str):
    """Deep link to a passage: its document version, scrolled to its section."""
    p = gate().passage_or_404(passage_id)
    return redirect(
        url_for(
            "ui.document",
            doc_id=p.doc_id,
            version=p.version_id,
            passage=p.passage_id,
            _anchor=p.passage_id,
        )
    )
