"""Which precedents still hold: outdated (a clause applied changed or went after the decision)
and in conflict (an unexplained consistency group), on the shipped corpus, wherever a ruling
shows, and as a filter."""

from __future__ import annotations

import json

import pytest

from kb.cli import main
from kb.service import KnowledgeBase
from kb.users import LOCAL_USER
from kb.web import create_app

# Decided "no action" under Dangerous Acts v1.0 (2025-09-15); v2.0 rewrote the clause it applied.
OUTDATED = "ESC-1033"
DRIVING = "streamer drunk driving while live"


@pytest.fixture(scope="module")
def kb(corpus_settings):
    kb = KnowledgeBase.open(corpus_settings)
    yield kb
    kb.close()


def test_statuses_follow_the_policy_versions_and_the_consistency_report(kb):
    statuses = kb.precedents()
    catalog = kb.searcher.catalog
    rulings = {r.case_id: r for r in catalog.current_rulings()}
    assert set(statuses) == {c for c, r in rulings.items() if r.status == "active"}
    assert statuses[OUTDATED].changed == ["LIVE-DNG-3.2"]
    assert statuses[OUTDATED].status == "outdated"
    for case_id, status in statuses.items():
        ruling = rulings[case_id]
        for clause in status.changed:
            then = catalog.clause_passage(clause, ruling.decision_date)
            now = catalog.clause_passage(clause)
            assert then.version_id != now.version_id and then.doc_id == now.doc_id
        for clause in status.removed:
            assert catalog.clause_passage(clause) is None
        # A clause whose version is the same as on the decision date never makes it outdated.
        for clause in ruling.clauses:
            then = catalog.clause_passage(clause, ruling.decision_date)
            now = catalog.clause_passage(clause)
            if then and now and then.version_id == now.version_id:
                assert clause not in status.changed
    groups = [g for g in kb.consistency(LOCAL_USER) if g.inconsistent]
    in_groups = {r.case_id for g in groups for r in g.rulings}
    assert in_groups == {c for c, s in statuses.items() if s.conflicts_with}
    assert {s.status for s in statuses.values()} == {"sound", "outdated", "conflict"}


def test_the_filter_and_the_hits_agree(kb, corpus_settings, runner):
    statuses = kb.precedents()
    for wanted in ("sound", "outdated", "conflict"):
        hits = kb.search(
            DRIVING,
            LOCAL_USER,
            k=30,
            filters=kb.parse_filters(["type=ruling", f"precedent_status={wanted}"]),
        ).response.results
        assert hits, wanted
        for hit in hits:
            assert wanted in statuses[hit.passage.doc_id].labels
            assert hit.metadata["precedent_status"] == statuses[hit.passage.doc_id].status
    out = runner.invoke(
        main,
        [
            *("--data-dir", str(corpus_settings.data_dir), "search", DRIVING),
            *("--filter", "precedent_status=outdated", "--json"),
        ],
    )
    assert out.exit_code == 0, out.output
    results = json.loads(out.output)["results"]
    assert results and {h["metadata"]["precedent_status"] for h in results} == {"outdated"}
    assert OUTDATED in [h["document_id"] for h in results]


def test_pages_and_api_show_the_status_and_the_card_puts_sound_precedents_first(
    corpus_settings,
):
    client = create_app(corpus_settings, testing=True).test_client()
    doc = client.get(f"/api/documents/{OUTDATED}").get_json()
    assert doc["precedent"] == {
        "precedent_status": "outdated",
        "outdated_clauses": ["LIVE-DNG-3.2"],
        "conflicts_with": [],
        "standing": None,
    }
    page = client.get(f"/documents/{OUTDATED}").get_data(as_text=True)
    assert 'id="outdated"' in page and "LIVE-DNG-3.2" in page
    assert "/documents/dangerous-acts-and-challenges/diff?from=" in page
    diff = page.split("/documents/dangerous-acts-and-challenges/diff?from=")[1].split('"')[0]
    assert (
        client.get(f"/documents/dangerous-acts-and-challenges/diff?from={diff}").status_code == 200
    )
    search = client.get("/", query_string={"q": DRIVING, "type": "ruling"}).get_data(as_text=True)
    assert "Outdated precedent: LIVE-DNG-3.2" in search
    answer = client.get("/api/answer", query_string={"q": DRIVING}).get_json()
    order = [p["precedent_status"] != "sound" for p in answer["precedents"]]
    assert True in order and False in order and order == sorted(order)
    assert client.get("/api/search?q=x&precedent_status=sound").status_code == 200


def test_settling_a_group_takes_it_off_the_report_and_marks_who_not_to_follow(
    corpus_settings, tmp_path, runner
):
    settings = corpus_settings.replace(user_data_dir=str(tmp_path / "user"))
    client = create_app(settings, testing=True).test_client()
    report = client.get("/api/consistency").get_json()
    assert report["resolved"] == []
    group = report["groups"][0]
    assert group["topic"] and len(group["outcomes"]) > 1
    standing = max(group["outcomes"], key=group["outcomes"].get)
    losers = [r["case_id"] for r in group["rulings"] if r["outcome"] != standing]
    winners = [r["case_id"] for r in group["rulings"] if r["outcome"] == standing]
    first = group["case_ids"][0]

    def resolve(**body):
        return client.post("/api/consistency/resolve", json={"case_id": first, **body})

    assert resolve(standing="ban-everyone", note="x").status_code == 400
    assert resolve(standing=standing, note="  ").status_code == 400
    assert (
        client.post(
            "/api/consistency/resolve",
            json={"case_id": "ESC-0000", "standing": standing, "note": "x"},
        ).status_code
        == 404
    )
    done = resolve(standing=standing, note="The stricter line is the policy's intent.")
    assert done.status_code == 200 and done.get_json()["standing"] == standing
    after = client.get("/api/consistency").get_json()
    assert set(group["case_ids"]) not in [set(g["case_ids"]) for g in after["groups"]]
    (settled,) = after["resolved"]
    assert settled["resolution"]["note"] == "The stricter line is the policy's intent."
    for case_id in losers:
        doc = client.get(f"/api/documents/{case_id}").get_json()
        assert doc["precedent"]["precedent_status"] == "do_not_follow"
        assert doc["precedent"]["standing"] == standing
        page = client.get(f"/documents/{case_id}").get_data(as_text=True)
        assert 'id="do-not-follow"' in page
    for case_id in winners:
        status = client.get(f"/api/documents/{case_id}").get_json()["precedent"]
        assert status["precedent_status"] in ("sound", "outdated")
        assert status["conflicts_with"] == []
    hits = client.get(
        "/api/search",
        query_string={"q": "stream", "type": "ruling", "precedent_status": "do_not_follow"},
    ).get_json()["results"]
    assert {h["document_id"] for h in hits} <= set(losers) and hits
    page = client.get("/consistency").get_data(as_text=True)
    assert "Settled" in page and "The stricter line" in page
    # The command line settles too, and says so; "both" stands with its reason.
    base = ["--data-dir", str(settings.data_dir), "resolve", first]
    out = runner.invoke(
        main,
        [*base, "--standing", "both", "--note", "Different venues."],
        env={"KB_USER_DATA_DIR": settings.user_data_dir},
    )
    assert out.exit_code == 0, out.output
    for case_id in losers:
        status = client.get(f"/api/documents/{case_id}").get_json()["precedent"]
        assert status["precedent_status"] != "do_not_follow"


def test_the_report_filters_by_surface_region_and_clause(corpus_settings, runner):
    client = create_app(corpus_settings, testing=True).test_client()
    every = client.get("/api/consistency").get_json()["groups"]
    dangerous = client.get("/api/consistency?clause=LIVE-DNG").get_json()["groups"]
    assert 0 < len(dangerous) < len(every)
    assert all(
        any(c.startswith("LIVE-DNG") for r in g["rulings"] for c in r["clauses"]) for g in dangerous
    )
    assert client.get("/api/consistency?surface=nowhere").get_json()["groups"] == []
    region = every[0]["rulings"][0]["region"]
    local = client.get(f"/api/consistency?region={region}").get_json()["groups"]
    assert local and all(any(r["region"] == region for r in g["rulings"]) for g in local)
    out = runner.invoke(
        main,
        [
            "--data-dir",
            str(corpus_settings.data_dir),
            "consistency",
            "--clause",
            "LIVE-DNG",
            "--json",
        ],
    )
    assert [g["case_ids"] for g in json.loads(out.output)["groups"]] == [
        g["case_ids"] for g in dangerous
    ]
    page = client.get("/consistency?clause=LIVE-DNG").get_data(as_text=True)
    assert page.count('class="cgroup"') == len(dangerous)
    # The search page's precedent-status control.
    page = client.get(
        "/", query_string={"q": DRIVING, "type": "ruling", "precedent_status": "outdated"}
    ).get_data(as_text=True)
    assert 'name="precedent_status" value="outdated" checked' in page
    assert OUTDATED in page
