"""What changed between versions: real TikTok history, and the sample corpus' v1 -> v2."""

from __future__ import annotations

import itertools

import pytest

from kb.catalog import Catalog
from kb.config import Settings
from kb.datadir import DataDir
from kb.ingest.pipeline import ingest
from kb.versions import diff_versions, sections_of

from .conftest import shared

DOC = "tiktok-community-guidelines"


def _norm(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def tiktok(tmp_path_factory):
    folder = shared("pga", "history", "TikTok", "Community-Guidelines")
    settings = Settings.load(
        data_dir=tmp_path_factory.mktemp("tiktok") / "index", dense_index=False
    )
    ingest(settings, [], shared("pga", "manifest.jsonl"))
    catalog = Catalog(DataDir(settings.data_dir).current() / "catalog.sqlite", readonly=True)
    yield folder, catalog
    catalog.close()


def test_consecutive_versions_list_exactly_the_sections_that_changed(tiktok):
    _, catalog = tiktok
    versions = sorted(catalog.document(DOC).versions, key=lambda v: v.effective_from)
    assert len(versions) == 21
    for old, new in itertools.pairwise(versions):
        diff = diff_versions(catalog, DOC, str(old.version_id), str(new.version_id))
        before, after = sections_of(catalog, old.version_id), sections_of(catalog, new.version_id)
        reported = {tuple(c.heading_path) for c in diff.changes}
        for change in diff.changes:
            if change.kind == "changed":
                assert _norm(change.old_text) != _norm(change.new_text)
            if change.kind == "moved":
                assert _norm(change.old_text) == _norm(change.new_text)
                assert change.old_heading_path != change.heading_path
            if change.kind == "added":
                # A new heading; had the same text lost its old heading, it would be "moved".
                assert tuple(change.heading_path) not in before
                gone = {_norm(c.old_text) for c in diff.changes if c.kind == "removed"}
                assert _norm(change.new_text) not in gone
        # Nothing else changed: every section not reported is word-for-word the same.
        for key in set(before) & set(after):
            if key not in reported:
                assert _norm(before[key][1]) == _norm(after[key][1]), (new.effective_from, key)
        assert diff.unchanged == sum(1 for k in set(before) & set(after) if k not in reported)


def test_whitespace_only_revision_has_no_changes(tiktok):
    folder, catalog = tiktok
    raw_old = (folder / "2022-07-11.md").read_text()
    raw_new = (folder / "2022-09-20.md").read_text()
    assert raw_old != raw_new and _norm(raw_old) == _norm(raw_new)
    diff = diff_versions(catalog, DOC, "2022-07-11", "2022-09-20")
    assert diff.changes == [] and diff.unchanged > 40


def test_a_one_paragraph_revision_is_one_changed_section(tiktok):
    folder, catalog = tiktok
    diff = diff_versions(catalog, DOC, "2023-01-13", "2023-03-21")
    assert [c.kind for c in diff.changes] == ["changed"]
    added = " ".join(t for op, t in diff.changes[0].words if op == "+")
    assert "April 21, 2023" in added
    assert "April 21, 2023" in (folder / "2023-03-21.md").read_text()
    assert "April 21, 2023" not in (folder / "2023-01-13.md").read_text()


def test_sample_policy_v1_to_v2_through_the_api(corpus_settings):
    from kb.web import create_app

    client = create_app(corpus_settings, testing=True).test_client()
    body = client.get("/api/documents/minors-on-live/diff").get_json()
    assert (body["from"]["version"], body["to"]["version"]) == ("1.0", "2.0")
    by_kind = {}
    for c in body["changes"]:
        by_kind.setdefault(c["kind"], []).append(c["heading_path"][-1].split()[0])
    assert "LIVE-MIN-3.4" in by_kind["added"]
    assert "LIVE-MIN-2.2" in by_kind["changed"]
    assert body["counts"]["unchanged"] > 10
    page = client.get("/documents/minors-on-live/diff").get_data(as_text=True)
    assert "<ins>" in page and "What changed" in page
    assert client.get("/api/documents/minors-on-live/diff?from=9.9").status_code == 404


def test_table_rows_are_compared_as_rows_and_prose_by_words():
    from kb.versions import block_diff

    old = "Intro text here.\n\n| What | Default |\n|---|---|\n| A | allowed |\n| B | warn |\n\nEnd."
    new = "Intro text now here.\n\n| What | Default |\n|---|---|\n| A | allowed |\n| B \\| C | end stream |\n\nEnd."
    prose, table, tail = block_diff(old, new)
    assert prose.words == [("=", "Intro text"), ("+", "now"), ("=", "here.")]
    assert table.header == ["What", "Default"]
    assert table.rows == [
        ("=", ["A", "allowed"]),
        ("-", ["B", "warn"]),
        ("+", ["B | C", "end stream"]),
    ]
    assert tail.words == [("=", "End.")]
