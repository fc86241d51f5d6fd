"""Escalation rulings as JSON lines or CSV: one ruling per line, each its own document."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from kb.errors import ParseError
from kb.ingest.base import ParseResult, Source, json_lines
from kb.ingest.metadata import (
    canonical_items,
    canonical_key,
    fold_key,
    normalize_metadata,
    overlay,
    parse_date,
)
from kb.ingest.structure import SectionBuilder, TextAssembler
from kb.types import OUTCOMES, RULING_STATUSES, ParsedDocument, Ruling

REQUIRED = (
    "case_id",
    "title",
    "decision_date",
    "surface",
    "region",
    "policy_areas",
    "clauses",
    "facts",
    "outcome",
    "decision",
    "rationale",
    "status",
)
OPTIONAL = ("superseded_by", "reviewer_tier", "visibility", "teaching_example")
# Document metadata a ruling derives from its own fields: extra fields may not set it.
_DERIVED = frozenset(
    {
        "id",
        "type",
        "status",
        "surfaces",
        "regions",
        "policy_areas",
        "visibility",
        "effective_from",
        "effective_to",
        "version",
        "case_id",
        "outcome",
        "decision_date",
        "clauses",
        "teaching_example",
        "reviewer_tier",
        "superseded_by",
    }
)
_LIST_FIELDS = ("policy_areas", "clauses")
_CASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")


def parse_jsonl(source: Source) -> ParseResult:
    """Each non-blank line a JSON object describing one ruling."""
    result = ParseResult()
    for item in json_lines(source.text, source.path):
        if isinstance(item, ParseError):
            result.errors.append(item)
        else:
            _collect(result, item[1], source, item[0])
    _check_duplicates(result, source)
    return result


def parse_csv(source: Source) -> ParseResult:
    """A header row naming ruling fields, then one ruling per row; lists separated by ';'."""
    result = ParseResult()
    reader = csv.DictReader(io.StringIO(source.text))
    try:
        header = {fold_key(n) for n in reader.fieldnames or [] if n is not None}
        missing = [f for f in REQUIRED if f not in header]
        if missing:
            raise ParseError(source.path, f"CSV header lacks columns: {', '.join(missing)}", line=1)
        for row in reader:
            try:
                obj = _csv_ruling(row, source.path, reader.line_num)
            except ParseError as exc:
                result.errors.append(exc)
                continue
            _collect(result, obj, source, reader.line_num)
    except csv.Error as exc:  # e.g. a field over the csv module's size limit
        result.errors.append(
            ParseError(
                source.path,
                f"malformed CSV: {exc}; the rows after it were not read",
                line=reader.reader.line_num,  # the DictReader's own count lags on errors
            )
        )
    _check_duplicates(result, source)
    return result


def _csv_ruling(row: dict, path: str, line: int) -> dict[str, Any]:
    cells = [(k, v, line) for k, v in row.items() if k is not None and v not in (None, "")]
    obj = {k: v for k, v, _ in canonical_items(cells, path, line=line, fold=fold_key)}
    for key in _LIST_FIELDS:
        if key in obj:
            obj[key] = [v.strip() for v in obj[key].split(";") if v.strip()]
    if "teaching_example" in obj:
        obj["teaching_example"] = obj["teaching_example"].strip().lower() in ("1", "true", "yes")
    return obj


def _collect(result: ParseResult, obj: Any, source: Source, line: int) -> None:
    try:
        result.documents.append(ruling_document(obj, source, line))
    except ParseError as exc:
        result.errors.append(exc)


def _check_duplicates(result: ParseResult, source: Source) -> None:
    seen: dict[str, int] = {}
    kept = []
    for doc in result.documents:
        if doc.doc_id in seen:
            result.errors.append(
                ParseError(
                    source.path,
                    f"case_id {doc.doc_id!r} already used on line {seen[doc.doc_id]}",
                    line=doc.source_line,
                    field="case_id",
                )
            )
            continue
        seen[doc.doc_id] = doc.source_line or 0
        kept.append(doc)
    result.documents = kept


def ruling_record(obj: Any, path: str, line: int) -> Ruling:
    """One ruling object, validated field by field (errors name the file, line and field)."""

    def bad(field: str, reason: str) -> ParseError:
        return ParseError(path, reason, line=line, field=field)

    if not isinstance(obj, dict):
        raise ParseError(path, "each line must be a JSON object", line=line)
    # One spelling per field ("Visibility" is "visibility"), as for every other source.
    folded = canonical_items([(k, v, line) for k, v in obj.items()], path, fold=fold_key)
    obj = {k: v for k, v, _ in folded}
    for key in REQUIRED:
        value = obj.get(key)
        if value is None or value == "" or value == []:
            raise bad(key, "required ruling field is missing or empty")
    for key in _LIST_FIELDS:
        if not isinstance(obj[key], list) or not all(isinstance(v, str) for v in obj[key]):
            raise bad(key, "must be a list of strings")
    for key in ("case_id", "title", "facts", "decision", "rationale", "surface", "region"):
        if not isinstance(obj[key], str):
            raise bad(key, "must be a string")
    case_id = obj["case_id"].strip()
    if not _CASE_ID_RE.match(case_id):
        raise bad("case_id", f"{case_id!r} is not a valid id (letters, digits, . _ : -)")
    outcome = str(obj["outcome"]).strip().lower()
    if outcome not in OUTCOMES:
        raise bad("outcome", f"{outcome!r} is not one of {', '.join(OUTCOMES)}")
    status = str(obj["status"]).strip().lower()
    if status not in RULING_STATUSES:
        raise bad("status", f"{status!r} is not one of {', '.join(RULING_STATUSES)}")
    decision_date = parse_date(obj["decision_date"], lambda r: bad("decision_date", r))
    superseded_by = obj.get("superseded_by") or None
    known = set(REQUIRED) | set(OPTIONAL)
    extra = {k: v for k, v in obj.items() if k not in known}
    for key in extra:
        if canonical_key(key) in _DERIVED:
            raise bad(key, "is derived from the ruling's own fields; it cannot be set here")
    teaching = obj.get("teaching_example", False)
    if not isinstance(teaching, bool):
        raise bad("teaching_example", "must be true or false")
    return Ruling(
        case_id=case_id,
        title=obj["title"].strip(),
        decision_date=decision_date,
        surface=obj["surface"].strip(),
        region=obj["region"].strip(),
        policy_areas=[v.strip() for v in obj["policy_areas"]],
        clauses=[v.strip() for v in obj["clauses"]],
        facts=obj["facts"].strip(),
        outcome=outcome,
        decision=obj["decision"].strip(),
        rationale=obj["rationale"].strip(),
        status=status,
        superseded_by=str(superseded_by).strip() if superseded_by else None,
        reviewer_tier=str(obj["reviewer_tier"]).strip() if obj.get("reviewer_tier") else None,
        visibility=str(obj.get("visibility") or "all").strip().lower(),
        teaching_example=teaching,
        extra=extra,
    )


def ruling_document(obj: Any, source: Source, line: int) -> ParsedDocument:
    """Validate one ruling object and turn it into a document with two sections."""
    ruling = ruling_record(obj, source.path, line)
    meta = _metadata(ruling, source, line)
    ruling.visibility = meta["visibility"]
    case_id, path = ruling.case_id, source.path
    title = f"{case_id}: {ruling.title}"
    body, sections = _body(ruling, title)
    return ParsedDocument(
        doc_id=case_id,
        title=title,
        doc_type="ruling",
        source_path=path,
        body=body,
        metadata=meta,
        sections=sections,
        ruling=ruling,
        source_line=line,
    )


def _metadata(ruling: Ruling, source: Source, line: int) -> dict[str, Any]:
    """The version metadata of a ruling: its extra fields, scope and the ruling's own facts;
    a manifest entry may add metadata and narrow visibility, never restate ruling fields."""
    meta = normalize_metadata(
        {
            **ruling.extra,
            "surfaces": [ruling.surface],
            "regions": [ruling.region],
            "policy_areas": ruling.policy_areas,
            "visibility": ruling.visibility,
            "effective_from": ruling.decision_date,
            "version": "1",
        },
        source.path,
        line=line,
    )
    meta.update(
        {
            "case_id": ruling.case_id,
            "outcome": ruling.outcome,
            "decision_date": ruling.decision_date,
            "clauses": ruling.clauses,
            "ruling_status": ruling.status,
            "teaching_example": ruling.teaching_example,
        }
    )
    if ruling.reviewer_tier:
        meta["reviewer_tier"] = ruling.reviewer_tier
    if ruling.superseded_by:
        meta["superseded_by"] = ruling.superseded_by
    from_manifest = {
        k: v for k, v in source.meta.items() if k == "visibility" or k not in _DERIVED | {"title"}
    }
    meta = overlay(meta, from_manifest)
    meta.setdefault("language", source.language)
    return meta


def _body(ruling: Ruling, title: str) -> tuple[str, list]:
    """The ruling's text (title, facts, decision and rationale) and its two sections."""
    builder = SectionBuilder(title)
    body = TextAssembler()
    body.add(title)
    body.add("Facts")
    builder.heading(2, "Facts")
    builder.block("paragraph", *body.add(ruling.facts))
    body.add("Decision and rationale")
    builder.heading(2, "Decision and rationale")
    builder.block(
        "paragraph",
        *body.add(f"Outcome: {ruling.outcome.replace('_', ' ')}. {ruling.decision}"),
    )
    builder.block("paragraph", *body.add(f"Rationale: {ruling.rationale}"))
    return body.text(), builder.finish()
