"""BEIR corpus files (`corpus.jsonl`: _id, title, text, optional metadata), for `kb eval`."""

from __future__ import annotations

from kb.errors import ParseError
from kb.ingest.base import ParseResult, Source, json_lines
from kb.ingest.metadata import normalize_metadata
from kb.ingest.structure import SectionBuilder, TextAssembler
from kb.types import ParsedDocument


def parse_corpus(source: Source) -> ParseResult:
    """Each line one document: its title heads the path, its text is one section."""
    result = ParseResult()
    for item in json_lines(source.text, source.path):
        if isinstance(item, ParseError):
            result.errors.append(item)
            continue
        n, obj = item
        try:
            doc_id = str(obj["_id"])
            text = str(obj.get("text") or "").strip()
            if not text:
                raise ParseError(source.path, "empty text", line=n, field="text")
            meta = normalize_metadata(dict(obj.get("metadata") or {}), source.path, line=n)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            result.errors.append(ParseError(source.path, f"bad BEIR line: {exc}", line=n))
            continue
        except ParseError as exc:
            result.errors.append(exc)
            continue
        title = str(obj.get("title") or "").strip() or doc_id
        builder = SectionBuilder(title)
        body = TextAssembler()
        for para in (p.strip() for p in text.split("\n\n")):
            if para:
                builder.block("paragraph", *body.add(para))
        meta.setdefault("language", source.language)
        meta.setdefault("visibility", "all")
        result.documents.append(
            ParsedDocument(
                doc_id=doc_id,
                title=title,
                doc_type="policy",
                source_path=source.path,
                body=body.text(),
                metadata=meta,
                sections=builder.finish(),
                source_line=n,
            )
        )
    return result
