"""One front door: the CLI, the API and the pages show a ruling as the knowledge base holds it,
user data (trainers' teaching flags) included."""

from __future__ import annotations

import json
import re

import pytest

from kb.cli import main
from kb.web import create_app

CASE = "ESC-1064"  # its source file does not make it a teaching example
FACTS = "Diwali stream: lit sparkler handed to toddler, host steps back to film"


def test_every_entry_point_agrees_on_a_flagged_ruling(corpus_settings, tmp_path, runner):
    settings = corpus_settings.replace(user_data_dir=str(tmp_path / "user"))
    client = create_app(settings, testing=True).test_client()
    env = {"KB_USER_DATA_DIR": settings.user_data_dir}
    batch = tmp_path / "queries.jsonl"
    batch.write_text(
        json.dumps({"id": "q", "query": FACTS, "filters": {"type": "ruling"}})
        + "\n"
        + json.dumps(
            {"id": "t", "query": FACTS, "filters": {"type": "ruling", "teaching_example": "true"}}
        )
        + "\n"
    )

    def cli(*args: str):
        out = runner.invoke(main, ["--data-dir", str(settings.data_dir), *args], env=env)
        assert out.exit_code == 0, out.output
        return out.output

    def flag_of(hits) -> bool:
        (hit,) = [h for h in hits if h["document_id"] == CASE]
        return hit["metadata"]["teaching_example"]

    def shown() -> dict[str, object]:
        doc = client.get(f"/api/documents/{CASE}").get_json()
        page = client.get(f"/documents/{CASE}").get_data(as_text=True)
        api = client.get("/api/search", query_string={"q": FACTS, "type": "ruling"}).get_json()
        flagged = client.get(
            "/api/search",
            query_string={"q": FACTS, "type": "ruling", "teaching_example": "true"},
        ).get_json()
        one, only = (
            json.loads(line) for line in cli("search", "--queries", str(batch)).split("\n")[:2]
        )
        return {
            "api document": doc["ruling"]["teaching_example"],
            "api document metadata": doc["version"]["metadata"]["teaching_example"],
            "page": re.search(r"<dt>Teaching example</dt><dd>(\w+)", page).group(1) == "yes",
            "api search": flag_of(api["results"]),
            "api filter": CASE in [h["document_id"] for h in flagged["results"]],
            "cli search": flag_of(
                json.loads(cli("search", FACTS, "--filter", "type=ruling", "--json"))["results"]
            ),
            "cli batch": flag_of(one["results"]),
            "cli batch filter": CASE in [h["document_id"] for h in only["results"]],
            "cli similar": flag_of(json.loads(cli("similar", FACTS, "--json"))["rulings"]),
            "api similar": flag_of(
                client.get("/api/rulings/similar", query_string={"q": FACTS}).get_json()["rulings"]
            ),
        }

    assert set(shown().values()) == {False}
    r = client.put(f"/api/rulings/{CASE}/teaching", json={"teaching_example": True})
    assert r.status_code == 200
    assert shown() == dict.fromkeys(shown(), True)
    # Flagged from the command line, off again: every entry point follows.
    cli("teaching", CASE, "--off")
    assert set(shown().values()) == {False}


def test_api_page_and_cli_show_one_ruling_passage_and_document_alike(corpus_settings, runner):
    client = create_app(corpus_settings, testing=True).test_client()

    def cli_hits(query: str, *filters: str) -> list[dict]:
        args = ["--data-dir", str(corpus_settings.data_dir), "search", query, "--json"]
        out = runner.invoke(main, [*args, *(x for f in filters for x in ("--filter", f))])
        assert out.exit_code == 0, out.output
        return json.loads(out.output)["results"]

    def api_hits(query: str, **filters: str) -> list[dict]:
        return client.get("/api/search", query_string={"q": query, **filters}).get_json()["results"]

    # One ruling: its document, its search hit (API and CLI) and its page say the same.
    doc = client.get(f"/api/documents/{CASE}").get_json()
    ruling = doc["ruling"]
    (api_hit,) = [h for h in api_hits(FACTS, type="ruling") if h["document_id"] == CASE]
    (cli_hit,) = [h for h in cli_hits(FACTS, "type=ruling") if h["document_id"] == CASE]
    assert api_hit == cli_hit | {"scores": api_hit["scores"], "score": api_hit["score"]}
    meta = api_hit["metadata"]
    assert (meta["outcome"], meta["decision_date"], meta["ruling_status"]) == (
        ruling["outcome"],
        ruling["decision_date"],
        ruling["status"],
    )
    assert (meta["clauses"], meta["regions"]) == (ruling["clauses"], [ruling["region"]])
    assert api_hit["title"] == doc["title"] == ruling["title"]
    assert api_hit["citation"]["version_id"] == doc["version"]["version_id"]
    page = client.get(f"/documents/{CASE}").get_data(as_text=True)
    for shown in (
        ruling["decision_date"],
        ruling["outcome"].replace("_", " "),
        f"{ruling['surface']} · {ruling['region']}",
    ):
        assert shown in page

    # One policy passage: the search hit (API and CLI), the passage and its document agree.
    (top,) = api_hits("lit sparkler handed to a toddler", type="policy", k="1")
    (cli_top,) = cli_hits("lit sparkler handed to a toddler", "type=policy")[:1]
    assert top["passage_id"] == cli_top["passage_id"]
    assert top["citation"] == cli_top["citation"]
    passage = client.get(f"/api/passages/{top['passage_id']}").get_json()
    for key in ("text", "heading_path", "clause_id"):
        assert passage[key] == top[key]
    assert passage["doc_id"] == top["document_id"]
    assert passage["document"]["title"] == top["citation"]["title"]
    assert passage["document"]["version"]["version"] == top["citation"]["version"]
    full = client.get(f"/api/documents/{top['document_id']}").get_json()
    assert passage["document"] == {k: full[k] for k in passage["document"]}
    assert passage | {"document": None} in [p | {"document": None} for p in full["passages"]]
    # The citation's link opens the passage's document version.
    assert client.get(top["citation"]["url"]).status_code == 200


def test_the_api_names_every_field_it_serves(corpus_settings):
    """Records are serialised field by field: a new catalog column is never public by
    accident (the lists below are the API's, as its OpenAPI document describes)."""
    client = create_app(corpus_settings, testing=True).test_client()
    doc = client.get(f"/api/documents/{CASE}").get_json()
    assert set(doc["ruling"]) == {
        *("case_id", "title", "decision_date", "surface", "region", "policy_areas"),
        *("clauses", "facts", "outcome", "decision", "rationale", "status", "superseded_by"),
        *("reviewer_tier", "visibility", "teaching_example", "extra"),
    }
    passage_fields = {
        *("passage_id", "doc_id", "version_id", "ordinal", "heading_path", "anchor"),
        *("clause_id", "text", "start", "end", "pages"),
    }
    assert all(set(p) == passage_fields for p in doc["passages"])
    passage = client.get(f"/api/passages/{doc['passages'][0]['passage_id']}").get_json()
    assert set(passage) == passage_fields | {"document"}


def test_the_knowledge_base_keeps_roles_and_clearance_for_every_caller(corpus_settings):
    """The same rules for the CLI (which asks as the local admin) and the web (as the signed-in
    user): diffs, the consistency report and writes need the policy role, and a ruling a
    moderator may not see does not exist for them, not even as a source of facts."""
    from kb.errors import ForbiddenError, NotFoundError
    from kb.service import KnowledgeBase
    from kb.users import LOCAL_USER, User

    moderator = User("mod", "moderator")
    kb = KnowledgeBase.open(corpus_settings)
    try:
        hidden = [r.case_id for r in kb.searcher.catalog.current_rulings() if r.visibility != "all"]
        assert hidden, "the shipped corpus has restricted rulings"
        for call in (
            lambda user: kb.diff("minors-on-live", user),
            lambda user: kb.consistency(user),
            lambda user: kb.create_collection("x", user),
            lambda user: kb.set_teaching(CASE, True, user),
        ):
            with pytest.raises(ForbiddenError):
                call(moderator)
        assert kb.diff("minors-on-live", LOCAL_USER).changes
        with pytest.raises(NotFoundError):
            kb.similar(moderator, case_id=hidden[0])
        with pytest.raises(NotFoundError):
            kb.document(hidden[0], moderator)
        assert kb.similar(LOCAL_USER, case_id=hidden[0]).hits
        shown = kb.search(FACTS, moderator, k=50, by="passage").response.results
        assert not {h.passage.doc_id for h in shown} & set(hidden)
    finally:
        kb.close()
