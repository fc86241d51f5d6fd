"""Files that are not what they seem: FIFOs, links to devices or to files outside the corpus,
manifest paths that climb out of their folder, files rewritten while read, and files that
disagree about one document. Each is reported by name; none hangs, grows memory or leaks."""

from __future__ import annotations

import os
import threading
import time

import pytest

from kb.catalog import Catalog
from kb.datadir import DataDir
from kb.errors import ParseError
from kb.ingest.pipeline import ingest
from kb.ingest.sources import SourceFile, collect, read_bounded
from kb.search.filters import Filters
from kb.search.hybrid import Searcher

POLICY = """---
id: {id}
title: {title}
effective_from: {date}
visibility: {visibility}
{extra}---
# {title}

## LIVE-H-1 Rule

{text}
"""


def policy(id="h1", title="Hostile", date="2024-01-01", visibility="all", text="Text.", extra=""):
    return POLICY.format(
        id=id, title=title, date=date, visibility=visibility, text=text, extra=extra
    )


def open_catalog(settings) -> Catalog:
    return Catalog(DataDir(settings.data_dir).current() / "catalog.sqlite", readonly=True)


def errors_of(report) -> list[str]:
    return [str(e) for e in report.errors]


@pytest.mark.timeout(60)
def test_a_fifo_is_reported_not_waited_on(settings, write, src):
    write("ok.md", policy())
    os.mkfifo(src / "pipe.md")
    report = ingest(settings, [src])
    assert report.added == 1
    assert any("pipe.md" in e and "not a regular file" in e for e in errors_of(report))


@pytest.mark.timeout(60)
def test_a_link_to_a_device_is_refused_before_reading(settings, write, src, tmp_path):
    (src / "zero.md").symlink_to("/dev/zero")
    found = collect([src], allow_outside=True)
    with pytest.raises(ParseError, match="not a regular file"):
        read_bounded(found.files[0], 5_000_000)
    report = ingest(settings, [src])  # without --allow-outside: outside the corpus
    assert any("zero.md" in e and "outside" in e for e in errors_of(report))


def test_links_out_of_the_corpus_are_reported_not_ingested(settings, write, src, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text(policy(id="secret", text="Zanzibar quokka secret."))
    write("ok.md", policy())
    (src / "passwd.md").symlink_to(outside / "secret.md")
    (src / "linked-dir").symlink_to(outside, target_is_directory=True)
    write("inside-target.md", policy(id="twin", text="Inside twin."))
    (src / "inside-link.md").symlink_to(src / "inside-target.md")
    report = ingest(settings, [src])
    assert any("passwd.md" in e and "outside" in e for e in errors_of(report))
    cat = open_catalog(settings)
    assert not cat.has_document("secret")
    assert cat.has_document("twin")  # a link that stays inside the corpus is fine
    cat.close()
    report = ingest(settings, [src], allow_outside=True)
    cat = open_catalog(settings)
    assert not cat.document("secret").removed
    cat.close()
    ingest(settings, [src])  # without the option again: it leaves the index
    cat = open_catalog(settings)
    assert cat.document("secret").removed
    cat.close()


def test_manifest_paths_stay_in_the_manifests_folder(settings, write, src, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text(policy(id="secret"))
    write("ok.md", policy())
    manifest = write(
        "manifest.jsonl",
        '{"path": "ok.md"}\n'
        '{"path": "../outside/secret.md"}\n'
        f'{{"path": "{outside / "secret.md"}"}}\n',
    )
    report = ingest(settings, [], manifest)
    assert sum("outside" in e and "secret.md" in e for e in errors_of(report)) == 2
    cat = open_catalog(settings)
    assert cat.has_document("h1") and not cat.has_document("secret")
    cat.close()


def test_an_oversized_file_is_refused_without_reading_it_all(write, src):
    path = write("big.md", "x" * 3_000_000)
    with pytest.raises(ParseError, match=r"over the 1\.0 MB limit"):
        read_bounded(SourceFile(path=path, display="big.md", default_id="big"), 1_000_000)


def test_a_huge_limit_reads_only_what_the_file_holds(write):
    """`kb eval` lifts the limit for benchmark corpora: reading must not allocate it."""
    path = write("small.md", "# Small\n\nText.\n")
    file = SourceFile(path=path, display="small.md", default_id="small")
    assert read_bounded(file, 10**15) == path.read_bytes()


def test_a_file_rewritten_while_read_is_refused_not_stored_truncated(write):
    path = write("busy.md", "x" * 20_000_000)
    file = SourceFile(path=path, display="busy.md", default_id="busy")
    stop = threading.Event()

    def keep_writing():
        with path.open("ab") as f:
            while not stop.is_set():
                f.write(b"y")
                f.flush()
                time.sleep(0.0002)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        with pytest.raises(ParseError, match="changed while it was being read"):
            for _ in range(50):  # each read overlaps several writes; one is plenty
                read_bounded(file, 1_000_000_000)
    finally:
        stop.set()
        writer.join()


# -- files that disagree about one document ------------------------------------------------


def test_same_text_and_date_with_other_visibility_is_an_error_and_stays_restricted(
    settings, write, src
):
    """Two copies of one version, one of them restricted: whatever the file names, the
    version stays restricted, and the error names both files."""
    write("a-open.md", policy(visibility="all"))
    write("b-restricted.md", policy(visibility="restricted"))
    write("c-open-again.md", policy(visibility="all"))
    report = ingest(settings, [src])
    problems = [e for e in errors_of(report) if "effective 2024-01-01" in e]
    assert len(problems) == 2 and all("a-open.md" in e for e in problems)
    assert any("b-restricted.md" in e and "treated as 'restricted'" in e for e in problems)
    cat = open_catalog(settings)
    (version,) = cat.document("h1").versions
    assert version.metadata["visibility"] == "restricted"
    cat.close()
    searcher = Searcher(settings)
    moderator = Filters(required=(("visibility=all",), ("status=current",)))
    assert searcher.search("Text", k=5, filters=moderator).results == []
    searcher.close()


def test_same_html_text_with_other_visibility_is_an_error_and_stays_restricted(
    settings, write, src
):
    """HTML bodies leave the meta tags out, so two copies can have the very same text."""
    page = (
        '<html><head><meta name="kb:id" content="g1"><meta name="kb:effective_from" '
        'content="2024-01-01"><meta name="kb:visibility" content="{}"></head>'
        "<body><main><h2>Rule</h2><p>Guidance text.</p></main></body></html>"
    )
    write("a-open.html", page.format("all"))
    write("b-team.html", page.format("policy-team"))
    report = ingest(settings, [src])
    (problem,) = [e for e in errors_of(report) if "same text" in e]
    assert "a-open.html" in problem and "b-team.html" in problem
    cat = open_catalog(settings)
    (version,) = cat.document("g1").versions
    assert version.metadata["visibility"] == "policy-team"
    cat.close()


def test_an_id_shared_by_a_policy_and_a_ruling_is_an_error(settings, write, src):
    write(
        "rulings.jsonl",
        '{"case_id": "ESC-1", "title": "T", "decision_date": "2025-01-01", "surface": "live", '
        '"region": "EU", "policy_areas": ["hate"], "clauses": ["LIVE-H-1"], "facts": "F", '
        '"outcome": "remove", "decision": "D", "rationale": "R", "status": "active"}\n',
    )
    write("zz-policy.md", policy(id="ESC-1"))
    report = ingest(settings, [src])
    (problem,) = [e for e in errors_of(report) if "ESC-1" in e]
    assert (
        "zz-policy.md" in problem and "rulings.jsonl" in problem and "already a ruling" in problem
    )
    cat = open_catalog(settings)
    assert cat.document("ESC-1").doc_type == "ruling"
    assert len(cat.document("ESC-1").versions) == 1
    cat.close()


def test_two_files_with_other_text_for_one_date_are_an_error(settings, write, src):
    write("a.md", policy(text="First text."))
    write("b.md", policy(text="Second text."))
    report = ingest(settings, [src])
    (problem,) = [e for e in errors_of(report) if "effective 2024-01-01" in e]
    assert "a.md" in problem and "b.md" in problem
    cat = open_catalog(settings)
    assert len(cat.document("h1").versions) == 1
    cat.close()


def test_a_correction_dated_the_same_day_leaves_one_version_in_force(settings, write, src):
    path = write("a.md", policy(text="First text."))
    ingest(settings, [src])
    path.write_text(policy(text="Corrected text."))
    report = ingest(settings, [src])
    assert report.errors == []
    searcher = Searcher(settings)
    hits = searcher.search("text", k=10, filters=Filters(as_of="2024-01-01")).results
    assert ["Corrected text." in h.passage.text for h in hits] == [True]
    searcher.close()
