from __future__ import annotations

import io
import json
import zipfile

import pytest

from kb.catalog import Catalog
from kb.cli import main
from kb.datadir import DataDir
from kb.ingest.pipeline import ingest
from kb.ingest.sources import Collected, SourceFile

POLICY = """---
id: {id}
title: {title}
version: "{version}"
effective_from: {date}
---
# {title}

Purpose of the policy.

## LIVE-T-1 First

{text}

## LIVE-T-2 Second

Unchanged clause text.
"""


def policy(id="p1", title="Test policy", version="1.0", date="2024-01-01", text="Original text."):
    return POLICY.format(id=id, title=title, version=version, date=date, text=text)


def open_catalog(settings) -> Catalog:
    return Catalog(DataDir(settings.data_dir).current() / "catalog.sqlite", readonly=True)


def test_new_version_makes_previous_historical_and_history_stays(settings, write, src):
    write("a/v1.md", policy(version="1.0", date="2024-01-01"))
    write("a/v2.md", policy(version="2.0", date="2025-01-01", text="Stricter text."))
    report = ingest(settings, [src])
    assert (report.added, report.versions_added, report.errors) == (1, 2, [])
    cat = open_catalog(settings)
    doc = cat.document("p1")
    assert [(v.version, v.status, v.effective_to) for v in doc.versions] == [
        ("2.0", "current", None),
        ("1.0", "historical", "2024-12-31"),
    ]
    assert doc.current_version_id == doc.versions[0].version_id
    old = cat.passages_of(doc.versions[1].version_id)
    assert any("Original text." in p.text for p in old)
    cat.close()


def test_unchanged_reingest_does_no_work_and_keeps_the_generation(settings, write, src):
    write("a.md", policy(id="a"))
    write("b.md", policy(id="b"))
    first = ingest(settings, [src])
    again = ingest(settings, [src])
    assert again.files_unchanged == 2 and again.unchanged == 2
    assert (again.added, again.updated, again.versions_added, again.passages_added) == (0, 0, 0, 0)
    assert again.generation == first.generation


def test_a_rewritten_file_holding_the_same_documents_is_read_once(settings, write, src):
    """Bytes changed, documents not (a BEIR corpus written again with its keys in another
    order): the ingest reads the file, changes nothing and keeps the generation, and later
    ingests skip the file as if its bytes had not changed, instead of parsing it again each
    time (a large export costs seconds to parse), also after another file's change made a new
    generation."""
    docs = [{"_id": f"d{i}", "title": f"Doc {i}", "text": f"Text number {i}."} for i in range(3)]

    def lines(order: list[str]) -> str:
        return "".join(json.dumps({key: d[key] for key in order}) + "\n" for d in docs)

    path = write("corpus.jsonl", lines(["_id", "title", "text"]))
    other = write("other.jsonl", json.dumps({"_id": "o", "title": "O", "text": "Other."}))
    found = Collected(
        files=[
            SourceFile(path=p, display=p.name, default_id=p.stem, parser="beir")
            for p in (path, other)
        ],
        roots=[src],
    )
    first = ingest(settings, [], found=found)
    assert first.versions_added == 4
    path.write_text(lines(["text", "_id", "title"]))
    rewritten = ingest(settings, [], found=found)
    assert (rewritten.files_unchanged, rewritten.unchanged, rewritten.versions_added) == (1, 4, 0)
    assert rewritten.generation == first.generation
    again = ingest(settings, [], found=found)
    assert (again.files_unchanged, again.unchanged, again.generation) == (2, 4, first.generation)
    path.write_text(lines(["_id", "title", "text"]))  # the bytes the catalog recorded
    assert ingest(settings, [], found=found).files_unchanged == 2
    path.write_text(lines(["text", "_id", "title"]))
    # Another file changes: the new generation's catalog learns the rewritten file's key.
    other.write_text(json.dumps({"_id": "o", "title": "O", "text": "Other, edited."}))
    moved = ingest(settings, [], found=found)
    assert (moved.files_unchanged, moved.versions_added) == (1, 1)
    assert moved.generation != first.generation
    assert ingest(settings, [], found=found).files_unchanged == 2
    # A real change is still seen.
    docs[0]["text"] = "Edited text."
    path.write_text(lines(["text", "_id", "title"]))
    changed = ingest(settings, [], found=found)
    assert (changed.files_unchanged, changed.versions_added) == (1, 1)
    assert ingest(settings, [], found=found).files_unchanged == 2


def _zipped(entries: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in entries.items():
            z.writestr(name, text)
    return buf.getvalue()


def _live_doc_ids(settings) -> list[str]:
    cat = open_catalog(settings)
    try:
        rows = cat.db.execute("SELECT doc_id FROM documents WHERE removed_at IS NULL")
        return sorted(r[0] for r in rows)
    finally:
        cat.close()


def test_a_file_with_a_refused_document_is_read_and_reported_every_time(settings, write, src):
    """A document refused while storing (it clashes with another file's on the same date) is
    reported by every ingest, not once, and once the other file is gone it is stored from
    this one: the file is never taken for one that holds what the catalog holds."""
    write("y.md", policy(id="d", text="Text one."))
    write("x.zip", _zipped({"a.md": policy(id="a")}))
    assert ingest(settings, [src]).errors == []
    write("x.zip", _zipped({"a.md": policy(id="a"), "d.md": policy(id="d", text="Text two.")}))
    for _ in range(2):
        report = ingest(settings, [src])
        assert report.files_unchanged == 1 and len(report.errors) == 1, report.errors
    (src / "y.md").unlink()
    report = ingest(settings, [src])
    assert report.errors == [] and "d" in _live_doc_ids(settings)


def test_a_file_whose_text_another_file_holds_is_read_again_once_that_file_goes(
    settings, write, src
):
    """Two files hold one policy's text: the second's metadata is set aside for the first's
    (stored once). An edit of that metadata changes nothing while the first file is there, and
    must still be applied once it is gone, not skipped as already checked."""
    write("b.md", policy(id="d"))
    write("x.zip", _zipped({"a.md": policy(id="a"), "d.md": policy(id="d")}))
    first = ingest(settings, [src])
    assert first.errors == []
    meta = {"d.meta.yaml": "review_by: 2030-01-01\n"}
    write("x.zip", _zipped({"a.md": policy(id="a"), "d.md": policy(id="d"), **meta}))
    assert ingest(settings, [src]).generation == first.generation  # nothing to change yet
    (src / "b.md").unlink()
    assert ingest(settings, [src]).errors == []
    cat = open_catalog(settings)
    try:
        found = cat.db.execute(
            "SELECT json_extract(metadata, '$.review_by') FROM versions WHERE doc_id = 'd'"
        ).fetchall()
    finally:
        cat.close()
    assert ("2030-01-01",) in [tuple(r) for r in found]


def test_changed_document_reprocesses_only_its_own_passages(settings, write, src):
    write("a.md", policy(id="a"))
    write("b.md", policy(id="b"))
    ingest(settings, [src])
    cat = open_catalog(settings)
    b_before = [p.passage_id for p in cat.passages_of(cat.document("b").current_version_id)]
    cat.close()
    write("a.md", policy(id="a", version="1.1", date="2024-06-01", text="Edited text."))
    report = ingest(settings, [src])
    assert (report.updated, report.unchanged, report.versions_added) == (1, 1, 1)
    assert report.files_unchanged == 1
    cat = open_catalog(settings)
    assert [p.passage_id for p in cat.passages_of(cat.document("b").current_version_id)] == b_before
    assert len(cat.document("a").versions) == 2
    cat.close()


def test_disappeared_file_is_reported_and_removed_then_restored(settings, write, src):
    write("a.md", policy(id="a"))
    path = write("b.md", policy(id="b"))
    ingest(settings, [src])
    path.unlink()
    report = ingest(settings, [src])
    assert report.removed_ids == ["b"] and report.removed == 1
    cat = open_catalog(settings)
    assert cat.document("b").removed and not cat.document("a").removed
    assert cat.stats()["current_passages"] == len(
        cat.passages_of(cat.document("a").current_version_id)
    )
    cat.close()
    write("b.md", policy(id="b"))
    report = ingest(settings, [src])
    assert report.updated == 1 and not open_catalog(settings).document("b").removed


@pytest.mark.parametrize("date", ["2024-01-01", None], ids=["same date", "undated"])
def test_a_file_put_back_to_an_earlier_text_serves_that_text(settings, write, src, date):
    """A file edited and then put back (a reverted commit) serves the text it holds again: the
    put-back text is stored again as the newest version, with passage ids of its own, and the
    earlier versions stay as they were, so their citations still resolve."""
    from kb.service import KnowledgeBase
    from kb.users import LOCAL_USER

    def text(words: str) -> str:
        body = policy(text=words)
        return body if date else body.replace("effective_from: 2024-01-01\n", "")

    path = write("p.md", text("Original text about juggling knives."))
    ingest(settings, [src])
    for words in ("Stricter text about fire breathing.", "Original text about juggling knives."):
        path.write_text(text(words))
        report = ingest(settings, [src])
        assert (report.versions_added, report.errors, report.notices) == (1, [], [])
    cat = open_catalog(settings)
    doc = cat.document("p1")
    assert [v.status for v in doc.versions] == ["current", "historical", "historical"]
    first, restored = doc.versions[2], doc.versions[0]
    assert first.content_hash == restored.content_hash
    current = cat.passages_of(doc.current_version_id)
    assert any("juggling knives" in p.text for p in current)
    earlier = cat.passages_of(first.version_id)
    assert {p.passage_id for p in earlier}.isdisjoint(p.passage_id for p in current)
    cat.close()
    kb = KnowledgeBase.open(settings)
    try:
        hits = kb.search("juggling knives", LOCAL_USER, by="passage").response.results
        assert hits and hits[0].passage.version_id == restored.version_id
        hits = kb.search("fire breathing", LOCAL_USER, by="passage").response.results
        assert {h.passage.version_id for h in hits} == {restored.version_id}
    finally:
        kb.close()
    # Edited again to the second text: that one serves again, and nothing is lost.
    path.write_text(text("Stricter text about fire breathing."))
    assert ingest(settings, [src]).versions_added == 1
    cat = open_catalog(settings)
    current = cat.passages_of(cat.document("p1").current_version_id)
    assert any("fire breathing" in p.text for p in current)
    assert len(cat.document("p1").versions) == 4
    cat.close()
    # Another file with the first text (an archive's copy) puts nothing back.
    write("archive/p-old.md", text("Original text about juggling knives."))
    assert ingest(settings, [src]).versions_added == 0
    cat = open_catalog(settings)
    current = cat.passages_of(cat.document("p1").current_version_id)
    assert any("fire breathing" in p.text for p in current)
    cat.close()


def test_a_file_put_back_to_an_earlier_dated_text_is_told_how_to_restore_it(settings, write, src):
    """Put back to a text with an earlier effective date than the version it replaced: the
    later date keeps its version in force, and the report says so and what to change."""
    path = write("p.md", policy(date="2024-01-01"))
    ingest(settings, [src])
    path.write_text(policy(version="2.0", date="2025-01-01", text="Stricter text."))
    ingest(settings, [src])
    path.write_text(policy(date="2024-01-01"))
    report = ingest(settings, [src])
    assert report.versions_added == 0 and len(report.notices) == 1
    assert "p.md" in report.notices[0] and "effective_from" in report.notices[0]
    cat = open_catalog(settings)
    assert cat.version(cat.document("p1").current_version_id).version == "2.0"
    cat.close()


def test_a_file_put_back_to_an_earlier_restricted_text_restricts_what_stays_in_force(
    settings, write, src
):
    """Put back to a restricted text dated before the version that stays in force: that
    version, which the file no longer holds, is restricted too (fails closed) until the file
    holds it again."""
    from kb.service import KnowledgeBase
    from kb.users import User

    restricted = policy(text="Quokka handling notes.").replace(
        "---\n", "---\nvisibility: restricted\n", 1
    )
    later = policy(version="2.0", date="2025-01-01", text="Quokka handling notes, stricter.")
    path = write("p.md", restricted)
    ingest(settings, [src])
    path.write_text(later)
    ingest(settings, [src])

    def moderator_finds() -> bool:
        kb = KnowledgeBase.open(settings)
        try:
            hits = kb.search("quokka handling", User("mod", "moderator"), by="passage")
            return bool(hits.response.results)
        finally:
            kb.close()

    assert moderator_finds()
    path.write_text(restricted)
    report = ingest(settings, [src])
    assert len(report.notices) == 1 and "'restricted'" in report.notices[0]
    assert not moderator_finds()
    path.write_text(later)
    ingest(settings, [src])
    assert moderator_finds()


@pytest.mark.parametrize("moved", [False, True], ids=["in place", "moved first"])
def test_a_file_put_back_to_restricted_is_restricted_again(settings, write, src, moved):
    """Made visible to all and then put back to restricted (a reverted commit), also after the
    file moved to another folder: moderators no longer find it. The visible version must not
    stay in force because the restricted text was stored before it."""
    from kb.service import KnowledgeBase
    from kb.users import User

    restricted = policy(text="Quokka handling notes.").replace(
        "---\n", "---\nvisibility: restricted\n", 1
    )
    path = write("p.md", restricted)
    ingest(settings, [src])
    path.write_text(restricted.replace("visibility: restricted", "visibility: all"))
    ingest(settings, [src])
    if moved:
        (src / "policies").mkdir()
        path = path.rename(src / "policies" / "p.md")
        ingest(settings, [src])
    path.write_text(restricted)
    assert ingest(settings, [src]).errors == []
    assert ingest(settings, [src]).versions_added == 0  # settled: the next ingest changes nothing
    kb = KnowledgeBase.open(settings)
    try:
        hits = kb.search("quokka handling", User("mod", "moderator"), by="passage")
        assert hits.response.results == []
    finally:
        kb.close()


def test_put_back_changes_nothing_where_the_file_is_not_the_documents_only_source(
    settings, write, src
):
    """A document several files hold (an archive of versions): a file put back to an earlier
    text does not change which version serves, and the report says so; a draft promoted by
    its sidecar is the same version made live, not a copy; the undated text in a sidecar-
    described file made restricted again restricts the version that stays in force."""
    from kb.service import KnowledgeBase
    from kb.users import User

    path = write("p.md", policy(text="Text A."))
    write("p-2026.md", policy(version="3.0", date="2026-01-01", text="Text B upcoming."))
    ingest(settings, [src])
    path.write_text(policy(text="Text C correction."))
    ingest(settings, [src])
    path.write_text(policy(text="Text A."))
    report = ingest(settings, [src])
    assert report.versions_added == 0 and len(report.notices) == 1
    assert "other file" in report.notices[0]
    cat = open_catalog(settings)
    assert "Text C correction." in cat.clause_text("LIVE-T-1", "2025-06-01")[1]
    cat.close()

    write("d.txt", "Quokka notes.\n")
    sidecar = write("d.meta.yaml", "id: d1\n")
    ingest(settings, [src])
    write("d.txt", "Quokka notes, rewritten.\n")
    sidecar.write_text("id: d1\nstatus: draft\n")
    ingest(settings, [src])
    sidecar.write_text("id: d1\n")
    assert ingest(settings, [src]).versions_added == 0
    cat = open_catalog(settings)
    assert [v.status for v in cat.document("d1").versions] == ["current", "historical"]
    cat.close()

    write("q.txt", "Quokka handling notes.\n")
    restricted = "id: q1\neffective_from: 2024-01-01\nvisibility: restricted\n"
    sidecar = write("q.meta.yaml", restricted)
    ingest(settings, [src])
    sidecar.write_text("id: q1\neffective_from: 2025-01-01\nvisibility: all\n")
    ingest(settings, [src])
    sidecar.write_text(restricted)
    notices = ingest(settings, [src]).notices
    assert any("q1" in n and "'restricted'" in n for n in notices)
    kb = KnowledgeBase.open(settings)
    try:
        hits = kb.search("quokka handling", User("mod", "moderator"), by="passage")
        assert "q1" not in {h.passage.doc_id for h in hits.response.results}
    finally:
        kb.close()


def test_a_put_back_text_serves_once_the_other_file_holding_the_document_goes(settings, write, src):
    """Put back in the same ingest that added another file with the document (the edit's text
    kept as a copy): nothing changes then; once the copy goes, the file's text serves."""
    path = write("p.txt", "Text A.\n")
    write("p.meta.yaml", "id: p1\n")
    ingest(settings, [src])
    path.write_text("Text B.\n")
    ingest(settings, [src])
    path.write_text("Text A.\n")
    write("copy/p.txt", "Text B.\n")
    write("copy/p.meta.yaml", "id: p1\n")
    assert ingest(settings, [src]).versions_added == 0
    for name in ("p.txt", "p.meta.yaml"):
        (src / "copy" / name).unlink()
    assert ingest(settings, [src]).versions_added == 1
    assert ingest(settings, [src]).versions_added == 0
    cat = open_catalog(settings)
    assert cat.version_body(cat.document("p1").current_version_id).startswith("Text A.")
    cat.close()


RULING = {
    "case_id": "ESC-1",
    "title": "t",
    "decision_date": "2025-01-02",
    "surface": "live",
    "region": "EU",
    "policy_areas": ["general"],
    "clauses": ["LIVE-T-1"],
    "facts": "Facts.",
    "outcome": "warn",
    "decision": "Warned.",
    "rationale": "Because.",
    "status": "active",
}


def test_bad_input_is_reported_and_nothing_stored_is_lost(settings, write, src):
    write("good.md", policy(id="good"))
    write("later-bad.md", policy(id="later-bad"))
    write("rulings.jsonl", json.dumps(RULING) + "\n" + json.dumps({**RULING, "case_id": "ESC-2"}))
    first = ingest(settings, [src])
    assert first.errors == [] and first.added == 4

    write("later-bad.md", "---\ntitle: [oops\n---\nBroken now.\n")
    write(
        "rulings.jsonl",
        json.dumps(RULING)
        + "\n{broken\n"
        + json.dumps({**RULING, "case_id": "ESC-3", "outcome": None})
        + "\n"
        + json.dumps({**RULING, "case_id": "ESC-4"})
        + "\n",
    )
    write("binary.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR")
    write("latin1.md", "# Title\n\nfine line\ncaf\xe9 au lait\n".encode("latin-1"))
    write("empty.md", "   \n")
    write("big.txt", "x" * 2_100_000)
    write("notes.docx", b"PK\x03\x04")  # a Word file cut short
    write("notes.odt", b"PK\x03\x04")  # a format not read: skipped, said so
    report = ingest(settings.replace(max_file_mb=2.0), [src])

    where = {(e.path.split("/")[-1], e.line, e.field) for e in report.errors}
    assert where == {
        ("later-bad.md", 3, None),
        ("rulings.jsonl", 2, None),
        ("rulings.jsonl", 3, "outcome"),
        ("binary.md", None, None),
        ("latin1.md", 4, None),
        ("empty.md", None, None),
        ("big.txt", None, None),
        ("notes.docx", None, None),
    }
    reasons = " ".join(e.reason for e in report.errors)
    for word in (
        "malformed front matter",
        "malformed JSON",
        "binary",
        "invalid UTF-8",
        "empty",
        "over the 2.0 MB limit",
        "not a Word document",
    ):
        assert word in reasons
    assert [s.split("/")[-1] for s in report.skipped] == ["notes.odt"]
    assert report.added == 1  # ESC-4
    assert report.removed_ids == []  # ESC-2's line is broken, not gone: it stays
    cat = open_catalog(settings)
    for doc_id in ("good", "later-bad", "ESC-1", "ESC-2", "ESC-4"):
        doc = cat.document(doc_id)
        assert not doc.removed and doc.current_version_id is not None
    cat.close()


def test_strict_turns_errors_into_a_failing_exit(settings, write, src, runner):
    write("good.md", policy(id="good"))
    write("bad.md", "---\nid: [x\n---\n")
    args = ["--data-dir", str(settings.data_dir), "ingest", str(src)]
    lax = runner.invoke(main, args)
    assert lax.exit_code == 0, lax.output
    assert "bad.md:3" in lax.output and "malformed front matter" in lax.output
    strict = runner.invoke(main, [*args, "--strict", "--json"])
    assert strict.exit_code == 1
    assert json.loads(strict.output)["errors"][0]["line"] == 3


def test_manifest_lists_files_and_metadata(settings, write, src):
    write("docs/one.md", "# One\n\nFirst text.\n")
    write("docs/two.md", "# Two\n\nSecond text.\n")
    write("docs/ignored.md", "# Not listed\n\nNot in the manifest.\n")
    manifest = write(
        "manifest.jsonl",
        "\n".join(
            [
                json.dumps(
                    {
                        "path": "docs/one.md",
                        "document_id": "d",
                        "effective_from": "2024-01-01",
                        "platform": "Glowcast",
                        "source_commit": "abc",
                    }
                ),
                json.dumps(
                    {"path": "docs/two.md", "document_id": "d", "effective_from": "2025-01-01"}
                ),
                json.dumps({"path": "docs/missing.md"}),
                json.dumps({"path": "docs/one.md", "effective_from": "someday"}),
            ]
        ),
    )
    report = ingest(settings, [], manifest)
    assert report.added == 1 and report.versions_added == 2
    assert sorted((e.line, e.field) for e in report.errors) == [(3, "path"), (4, "effective_from")]
    cat = open_catalog(settings)
    doc = cat.document("d")
    assert [v.status for v in doc.versions] == ["current", "historical"]
    assert doc.versions[1].metadata["source_commit"] == "abc"
    assert doc.versions[1].metadata["platform"] == "Glowcast"
    assert cat.stats()["documents"] == 1
    cat.close()


def test_stats_command_shows_counts_and_manifest(settings, write, src, runner):
    write("a.md", policy(id="a"))
    ingest(settings, [src])
    out = runner.invoke(main, ["--data-dir", str(settings.data_dir), "stats", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["documents"] == 1 and data["passages"] == 3
    assert data["manifest"]["chunking"]["max_tokens"] == settings.chunk_max_tokens
    assert data["manifest"]["model"]["name"] == "all-MiniLM-L6-v2"
