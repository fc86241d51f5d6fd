"""Trainers' collections through the API: create, add, annotate, reorder, export, errors."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from markdown_it import MarkdownIt

from kb.web import create_app
from tests.conftest import raw_user_data
from tests.web.test_access import csrf_of


@pytest.fixture
def client(corpus_settings, user_store):
    # Same index, own user data: copy nothing, point collections at a fresh folder, or a fresh
    # schema in PostgreSQL.
    app = create_app(corpus_settings, testing=True)
    from kb.collections import Collections

    app.extensions["kb"].collections = Collections(user_store)
    return app.test_client()


def test_collection_lifecycle_and_exports(client):
    hits = client.get(
        "/api/search",
        query_string={"q": "lit sparkler handed to a toddler", "type": "policy", "k": 2},
    ).get_json()["results"]
    assert (
        client.post(
            "/api/collections", json={"name": "Fire basics", "description": "Week 1"}
        ).status_code
        == 201
    )
    first = client.post(
        "/api/collections/Fire basics/items",
        json={"ref": hits[0]["passage_id"], "note": "the rule"},
    ).get_json()
    second = client.post("/api/collections/Fire basics/items", json={"ref": "ESC-1010"}).get_json()
    client.patch(
        f"/api/collections/Fire basics/items/{second['item_id']}",
        json={"position": 1, "note": "the textbook case"},
    )
    body = client.get("/api/collections/Fire basics").get_json()
    assert [i["ref"] for i in body["items"]] == ["ESC-1010", hits[0]["passage_id"]]
    assert body["items"][0]["kind"] == "ruling" and body["items"][0]["outcome"]
    assert body["items"][1]["citation"].startswith("Dangerous Acts and Challenges › ")
    md = client.get("/api/collections/Fire basics/export?format=md").get_data(as_text=True)
    assert md.startswith("# Fire basics") and "*Trainer's note:* the textbook case" in md
    assert hits[0]["passage_id"] in md and "v2.0 (effective 2026-02-01, current)" in md
    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get("/api/collections/Fire basics/export?format=csv").get_data(as_text=True)
            )
        )
    )
    assert [r["id"] for r in rows] == ["ESC-1010", hits[0]["passage_id"]]
    assert rows[1]["citation"] and rows[1]["text"] == hits[0]["text"]
    assert (
        client.delete(f"/api/collections/Fire basics/items/{first['item_id']}").status_code == 204
    )
    assert client.get("/api/collections").get_json()["collections"] == [
        {"name": "Fire basics", "description": "Week 1", "items": 1}
    ]


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "fragment"),
    [
        ("post", "/api/collections", {"name": "bad/name"}, 400, "collection name"),
        ("post", "/api/collections/none/items", {"ref": "ESC-1010"}, 404, "no collection"),
        ("get", "/api/collections/none/export", None, 404, "no collection"),
        # PostgreSQL cannot store NUL (SQLite can): both backends refuse it alike.
        ("post", "/api/collections", {"name": "n", "description": "a\x00b"}, 400, "description"),
        ("patch", "/api/collections/none", {"description": "\x00"}, 400, "NUL"),
    ],
)
def test_collection_errors(client, method, url, body, status, fragment):
    r = getattr(client, method)(url, json=body) if body else getattr(client, method)(url)
    assert r.status_code == status and fragment in r.get_json()["error"]["message"]


def test_unknown_refs_and_duplicates_are_rejected(client):
    client.post("/api/collections", json={"name": "x"})
    assert client.post("/api/collections", json={"name": "x"}).status_code == 409
    r = client.post("/api/collections/x/items", json={"ref": "nope"})
    assert (
        r.status_code == 404
        and "neither a passage id nor a ruling" in r.get_json()["error"]["message"]
    )
    assert client.get("/api/collections/x/export?format=pdf").status_code == 400


def test_collection_and_similar_pages(client):
    client.post("/api/collections", json={"name": "Teach me"})
    client.post(
        "/api/collections/Teach me/items",
        json={"ref": "ESC-1010", "note": "<script>alert(1)</script>"},
    )
    assert "Teach me" in client.get("/collections").get_data(as_text=True)
    page = client.get("/collections/Teach me").get_data(as_text=True)
    assert "ESC-1010" in page and ">Markdown</a>" in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    similar = client.get(
        "/rulings/similar", query_string={"q": "host hands a burning sparkler to a small child"}
    )
    text = similar.get_data(as_text=True)
    assert "Outcomes of the closest" in text and "ESC-10" in text


def test_trainers_teaching_flags_drive_the_filter(client):
    def teaching_ids():
        r = client.get(
            "/api/search",
            query_string={
                "q": "lit sparkler handed to a toddler",
                "type": "ruling",
                "teaching_example": "true",
                "k": 100,
                "max_per_doc": 1,
            },
        )
        return {h["document_id"] for h in r.get_json()["results"]}

    before = teaching_ids()
    assert before and "ESC-1064" not in before
    flagged = sorted(before)[0]
    assert (
        client.put("/api/rulings/ESC-1064/teaching", json={"teaching_example": True}).status_code
        == 200
    )
    assert (
        client.put(f"/api/rulings/{flagged}/teaching", json={"teaching_example": False}).status_code
        == 200
    )
    after = teaching_ids()
    assert "ESC-1064" in after and flagged not in after
    assert "Teaching example</dt><dd>yes" in client.get("/documents/ESC-1064").get_data(
        as_text=True
    )
    bad = client.put("/api/rulings/ESC-1064/teaching", json={"teaching_example": "yes"})
    assert bad.status_code == 400


def test_items_added_at_once_get_distinct_positions(client, user_store):
    app = client.application
    client.post("/api/collections", json={"name": "rush"})
    refs = [
        h["passage_id"]
        for h in client.get(
            "/api/search", query_string={"q": "sparkler", "k": 24, "max_per_doc": 24}
        ).get_json()["results"]
    ]
    assert len(refs) == 24
    start = threading.Barrier(len(refs))

    def add(ref: str) -> int:
        own = app.test_client()
        start.wait()
        return own.post("/api/collections/rush/items", json={"ref": ref}).status_code

    with ThreadPoolExecutor(len(refs)) as pool:
        assert list(pool.map(add, refs)) == [201] * len(refs)
    with raw_user_data(user_store, "userdata.sqlite") as (db, _):
        found = db.execute("SELECT position FROM collection_items ORDER BY position")
        stored = [p for (p,) in found]
    assert stored == list(range(1, len(refs) + 1))


def test_a_file_with_duplicate_positions_is_renumbered_and_then_kept_unique(tmp_path):
    from kb.collections import _SCHEMA, Collections

    db = sqlite3.connect(tmp_path / "userdata.sqlite")  # as written before positions were unique
    db.executescript(_SCHEMA)
    db.executemany("INSERT INTO collections VALUES (?, '', 'then')", [("c",), ("d",)])
    db.executemany(
        "INSERT INTO collection_items (item_id, collection, position, ref, kind, added_at) "
        "VALUES (?, ?, ?, 'ESC-1010', 'ruling', 'then')",
        [(1, "c", 1), (2, "c", 2), (3, "c", 2), (4, "c", 3), (5, "d", 5), (6, "d", 5)],
    )
    db.commit()
    Collections(tmp_path).close()
    rows = db.execute("SELECT item_id, position FROM collection_items ORDER BY item_id").fetchall()
    assert rows == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 1), (6, 2)]
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        db.execute(
            "INSERT INTO collection_items (collection, position, ref, kind, added_at) "
            "VALUES ('c', 4, 'ESC-1010', 'ruling', 'now')"
        )
    db.close()


def _items(client, name):
    return client.get(f"/api/collections/{name}").get_json()["items"]


def test_a_trainer_builds_a_collection_in_the_pages(client):
    start = client.get("/collections").get_data(as_text=True)
    token = csrf_of(start)
    r = client.post(
        "/collections", data={"name": "fireworks", "description": "Week 2", "csrf_token": token}
    )
    assert r.status_code == 302 and r.location.endswith("/collections/fireworks")
    # Add from the search page without leaving it: the form comes back to the results.
    results = client.get("/", query_string={"q": "sparkler toddler"}).get_data(as_text=True)
    refs = re.findall(r'form="add-to" name="ref" value="([^"]+)"', results)
    assert len(refs) >= 3
    back = "/?q=sparkler+toddler"
    r = client.post(
        "/collections/add",
        data={"collection": "fireworks", "ref": refs[0], "next": back, "csrf_token": token},
    )
    assert r.status_code == 302 and r.location == f"{back}#hit-{refs[0]}"
    assert "Added to fireworks." in client.get(r.location).get_data(as_text=True)
    # The same item again is refused, with the reason shown, and nothing is added.
    r = client.post(
        "/collections/add",
        data={"collection": "fireworks", "ref": refs[0], "next": back, "csrf_token": token},
    )
    assert "Already in fireworks: nothing added." in client.get(r.location).get_data(as_text=True)
    # The page's script gets JSON.
    fetch = {"X-Requested-With": "fetch"}
    r = client.post(
        "/collections/add",
        data={"collection": "fireworks", "ref": refs[1], "csrf_token": token},
        headers=fetch,
    )
    assert r.status_code == 201 and r.get_json()["message"] == "Added to fireworks."
    r = client.post(
        "/collections/add",
        data={"collection": "fireworks", "ref": refs[1], "csrf_token": token},
        headers=fetch,
    )
    assert (
        r.status_code == 409 and r.get_json()["message"] == "Already in fireworks: nothing added."
    )
    client.post(
        "/collections/add", data={"collection": "fireworks", "ref": "ESC-1010", "csrf_token": token}
    )
    ids = [i["item_id"] for i in _items(client, "fireworks")]
    assert len(ids) == 3

    def act(item_id, **data):
        r = client.post(
            f"/collections/fireworks/items/{item_id}", data={**data, "csrf_token": token}
        )
        assert r.status_code == 302, r.get_data(as_text=True)[:300]
        return r

    r = act(ids[2], action="up")
    assert r.location.endswith(f"#item-{ids[2]}")
    assert [i["item_id"] for i in _items(client, "fireworks")] == [ids[0], ids[2], ids[1]]
    act(ids[0], action="down")
    assert [i["item_id"] for i in _items(client, "fireworks")] == [ids[2], ids[0], ids[1]]
    act(ids[1], action="note", note="Use in week 2, slide 4")
    act(ids[0], action="remove")
    items = _items(client, "fireworks")
    assert [i["item_id"] for i in items] == [ids[2], ids[1]]
    assert items[1]["note"] == "Use in week 2, slide 4"
    page = client.get("/collections/fireworks").get_data(as_text=True)
    assert "Use in week 2, slide 4</textarea>" in page
    # Rename, then delete.
    r = client.post(
        "/collections/fireworks/edit",
        data={"name": "fireworks-w2", "description": "Week 2 (final)", "csrf_token": token},
    )
    assert r.location.endswith("/collections/fireworks-w2")
    assert client.get("/api/collections").get_json()["collections"] == [
        {"name": "fireworks-w2", "description": "Week 2 (final)", "items": 2}
    ]
    # Every change was audited, with the collection it touched.
    events = client.get("/api/audit", query_string={"action": "edit", "limit": 50}).get_json()
    endpoints = [e["detail"]["endpoint"] for e in events["events"]]
    for endpoint in (
        "ui.collections",
        "ui.collection_add",
        "ui.collection_item",
        "ui.collection_edit",
    ):
        assert endpoint in endpoints, endpoints
    assert sum(e.startswith("ui.collection") for e in endpoints) >= 10
    r = client.post("/collections/fireworks-w2/delete", data={"csrf_token": token})
    assert (
        r.location.endswith("/collections")
        and client.get("/api/collections").get_json()["collections"] == []
    )


def test_exports_are_ready_for_slides_and_spreadsheets(client):
    client.post("/api/collections", json={"name": "tables"})
    hit = client.get(
        "/api/search",
        query_string={"q": "what you see default sparkler adult", "type": "policy", "k": 5},
    ).get_json()["results"]
    table = next(h for h in hit if "|---|" in h["text"])
    client.post(
        "/api/collections/tables/items", json={"ref": table["passage_id"], "note": "the table"}
    )
    client.post("/api/collections/tables/items", json={"ref": "ESC-1010"})
    raw = client.get("/api/collections/tables/export?format=csv&bom=1").get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(rows[0]) == [
        "position",
        "kind",
        "id",
        "title",
        "clause",
        "outcome",
        "date",
        "region",
        "status",
        "note",
        "citation",
        "url",
        "text",
    ]
    passage, ruling = rows
    assert passage["clause"] == table["clause_id"] and passage["status"] == "current"
    assert ruling["outcome"] and ruling["date"] == "2025-01-01" and ruling["clause"]
    assert all(r["url"].startswith("http://localhost/") for r in rows)
    assert (
        not client.get("/api/collections/tables/export?format=csv").get_data().startswith(b"\xef")
    )
    md = client.get("/api/collections/tables/export?format=md").get_data(as_text=True)
    rendered = MarkdownIt("commonmark").enable("table").render(md)
    assert "<table>" in rendered and "<th>What you see</th>" in rendered
    assert "(http://localhost/passages/" in md


def test_the_base_url_setting_makes_export_links(corpus_settings, tmp_path):
    app = create_app(corpus_settings.replace(base_url="https://kb.example.org/"), testing=True)
    from kb.collections import Collections

    app.extensions["kb"].collections = Collections(tmp_path)
    client = app.test_client()
    client.post("/api/collections", json={"name": "linked"})
    client.post("/api/collections/linked/items", json={"ref": "ESC-1010"})
    md = client.get("/api/collections/linked/export?format=md").get_data(as_text=True)
    assert "(https://kb.example.org/documents/ESC-1010" in md


def test_a_rename_to_nothing_is_refused_and_a_description_alone_keeps_the_name(client):
    client.post("/api/collections", json={"name": "keep"})
    r = client.patch("/api/collections/keep", json={"name": ""})
    assert (
        r.status_code == 400
        and "name must be a non-empty string" in r.get_json()["error"]["message"]
    )
    r = client.patch("/api/collections/keep", json={"description": "Week 2"})
    assert r.status_code == 200 and r.get_json() == {"name": "keep"}
    (listed,) = client.get("/api/collections").get_json()["collections"]
    assert (listed["name"], listed["description"]) == ("keep", "Week 2")
