from __future__ import annotations

import pytest

from kb.errors import QueryError
from kb.search.filters import Filters, passage_terms
from kb.types import Passage, VersionInfo


def _version(meta):
    return VersionInfo(
        version_id=1,
        doc_id="d",
        version="1",
        effective_from="2024-01-01",
        effective_to=None,
        status="current",
        content_hash="h",
        title="T",
        source_path="x",
        metadata=meta,
        ingested_at="now",
    )


def _passage(meta=None, clause=None):
    return Passage(
        passage_id="p",
        doc_id="d",
        ordinal=0,
        heading_path=["T"],
        anchor="top",
        clause_id=clause,
        text="x",
        start=0,
        end=1,
        content_hash="c",
        metadata=meta or {},
    )


def test_terms_cover_known_and_free_form_metadata_with_section_overrides():
    meta = {
        "regions": ["global"],
        "surfaces": ["live", "gifting"],
        "platform": "Glowcast LIVE",
        "queue": "Minor Safety",
        "teaching_example": True,
        "title": "not a filter",
    }
    terms = passage_terms(_passage({"regions": ["KR"]}, "LIVE-MIN-2.2"), _version(meta), "policy")
    assert "regions=kr" in terms and "regions=global" not in terms  # the clause's own scope
    assert {
        "surfaces=live",
        "surfaces=gifting",
        "platform=glowcast live",
        "queue=minor safety",
        "teaching_example=true",
        "type=policy",
        "status=current",
        "doc_id=d",
        "clause_id=live-min-2.2",
    } <= set(terms)
    assert not any(t.startswith("title=") for t in terms)
    bare = passage_terms(_passage(), _version({}), "guidance")
    assert "regions=*" in bare and "surfaces=*" in bare  # no scope recorded: applies everywhere


def test_filter_clauses_default_to_current_and_widen_regions():
    f = Filters.parse(["region=EU", "type=policy,guidance"])
    assert f.clauses() == [
        ["regions=*", "regions=eu", "regions=global"],
        ["status=current"],
        ["type=guidance", "type=policy"],
    ]
    assert Filters.parse(as_of="2025-01-31").clauses() == [["status=current", "status=historical"]]
    assert Filters.parse(include_historical=True).clauses()[0] == [
        "status=current",
        "status=historical",
    ]


@pytest.mark.parametrize(
    ("pairs", "kwargs", "message"),
    [
        (["regionEU"], {}, "not key=value"),
        (["colour=red"], {"known_keys": {"regions", "type"}}, "unknown filter 'colour'"),
        (["regions="], {}, "empty"),
        ([], {"as_of": "31/01/2025"}, "not a date"),
        (["regions=" + "x" * 300], {}, "over 200 characters"),
    ],
)
def test_bad_filters_are_clear_errors(pairs, kwargs, message):
    with pytest.raises(QueryError, match=message):
        Filters.parse(pairs, **kwargs)


def test_narrowing_terms_keeps_dates_and_history():
    f = Filters.parse(
        ["type=policy"],
        as_of="2025-01-01",
        include_historical=True,
        date_from="2024-01-01",
        date_to="2025-06-30",
    )
    g = f.with_terms(type=["ruling"])
    assert g.terms == {"type": ["ruling"]} and f.terms == {"type": ["policy"]}
    assert (g.as_of, g.include_historical, g.date_from, g.date_to) == (
        "2025-01-01",
        True,
        "2024-01-01",
        "2025-06-30",
    )


def test_recent_masks_are_kept_read_only_and_told_apart(corpus_settings):
    from kb.search.filter_index import MASKS_KEPT
    from kb.search.hybrid import Searcher

    searcher = Searcher(corpus_settings)
    try:
        index = searcher.filters
        today = index.mask(Filters())
        assert index.mask(Filters()) is today and not today.flags.writeable
        with pytest.raises(ValueError):
            today[0] = not today[0]
        policies = index.mask(Filters(terms={"type": ["policy"]}))
        assert policies is not today and policies.sum() < today.sum()
        history = index.mask(Filters(include_historical=True))
        assert history.sum() > today.sum()
        for n in range(MASKS_KEPT):  # older masks make way for newer ones
            index.mask(Filters(date_from=f"20{n + 10:02d}-01-01"))
        again = index.mask(Filters())
        assert again is not today and (again == today).all()
    finally:
        searcher.close()
