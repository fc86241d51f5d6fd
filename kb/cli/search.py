"""`kb search`: ranked, cited clauses or passages for a query, or a batch of queries."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape

from kb.cli.common import console, json_option
from kb.config import Settings
from kb.errors import KBError, QueryError
from kb.users import LOCAL_USER


@click.command()
@click.argument("query", required=False)
@click.option("-k", "k", default=10, show_default=True, help="How many results.")
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Restrict to passages whose metadata has KEY=VALUE (repeatable; "
    "VALUE may be a,b for either).",
)
@click.option("--as-of", help="Search the versions in force on this date (YYYY-MM-DD).")
@click.option(
    "--history",
    "include_historical",
    is_flag=True,
    help="Include historical versions, not only current ones.",
)
@click.option("--date-from", help="Only documents dated (effective, or decided) on or after.")
@click.option("--date-to", help="Only documents dated (effective, or decided) on or before.")
@click.option(
    "--mode", type=click.Choice(["hybrid", "keyword", "dense"]), default="hybrid", show_default=True
)
@click.option("--max-per-doc", type=int, help="At most this many passages per document.")
@click.option(
    "--by",
    type=click.Choice(["clause", "passage"]),
    default="clause",
    show_default=True,
    help="One result per clause (its best passage, the others listed), or per passage.",
)
@click.option(
    "--queries",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Batch mode: JSONL of {id, query, filters}; prints one JSON line each.",
)
@json_option()
@click.pass_obj
def search(
    settings: Settings,
    query: str | None,
    k: int,
    filters: tuple[str, ...],
    as_of: str | None,
    include_historical: bool,
    date_from: str | None,
    date_to: str | None,
    mode: str,
    max_per_doc: int | None,
    by: str,
    queries: Path | None,
    as_json: bool,
) -> None:
    """Search the knowledge base for QUERY: ranked, cited clauses (or passages)."""
    from kb.service import KnowledgeBase

    if (query is None) == (queries is None):
        raise click.UsageError("give a QUERY or --queries FILE (not both)")
    with KnowledgeBase.open(settings) as kb:
        if queries is not None:
            _batch(kb, queries, k, mode, max_per_doc, list(filters), as_of, by)
            return
        parsed = kb.parse_filters(
            list(filters),
            as_of=as_of,
            include_historical=include_historical,
            date_from=date_from,
            date_to=date_to,
        )
        response = kb.search(
            query, LOCAL_USER, k=k, filters=parsed, mode=mode, max_per_doc=max_per_doc, by=by
        ).response
    if as_json:
        click.echo(json.dumps(response.to_dict(), ensure_ascii=False))
        return
    _print_results(response)


def _batch(kb, path: Path, k: int, mode: str, max_per_doc, base_filters, as_of, by: str) -> None:
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("query"), str):
                raise QueryError("each line needs a 'query' string")
            pairs = [
                *base_filters,
                *(f"{key}={v}" for key, v in (item.get("filters") or {}).items()),
            ]
            parsed = kb.parse_filters(pairs, as_of=item.get("as_of", as_of))
            response = kb.search(
                item["query"],
                LOCAL_USER,
                k=k,
                filters=parsed,
                mode=mode,
                max_per_doc=max_per_doc,
                by=by,
            ).response
            out = {"id": item.get("id", n), "results": response.to_dict()["results"]}
        except (json.JSONDecodeError, KBError) as exc:
            out = {"id": n, "error": f"{path}:{n}: {exc}"}
        click.echo(json.dumps(out, ensure_ascii=False))


def _print_results(response) -> None:
    from kb.search.highlight import to_terminal

    if not response.results:
        console.print("No passage matches. Try other words, fewer filters, or escalate.")
        return
    for hit in response.results:
        c = hit.citation
        tag = {"policy": "POLICY", "guidance": "GUIDANCE", "ruling": "PRECEDENT"}[c.doc_type]
        extra = ""
        if c.doc_type == "ruling":
            extra = (
                f" — outcome {hit.metadata.get('outcome')}, "
                f"{hit.metadata.get('decision_date')}, {hit.metadata.get('ruling_status')}"
            )
            if hit.metadata.get("precedent_status") not in (None, "sound"):
                extra += f", {hit.metadata['precedent_status']} precedent"
        console.print(
            f"[bold]{hit.rank}. [{tag}][/bold] [cyan]{escape(c.line())}[/cyan]"
            f"{escape(extra)}  [dim]{c.passage_id} · score {hit.score:.4f}"
            + (" · exact id" if hit.scores.get("exact_id") else "")
            + "[/dim]"
        )
        text = hit.passage.text if len(hit.passage.text) < 700 else hit.passage.text[:700] + " …"
        console.print("   " + to_terminal(text, response.query).replace("\n", "\n   "), emoji=False)
        if hit.more:
            console.print(f"   [dim]+{len(hit.more)} more matching passage(s) of this clause[/dim]")
        console.print()
    console.print(
        f"[dim]{len(response.results)} results in {response.took_ms:.0f} ms ({response.mode})[/dim]"
    )


COMMANDS = (search,)
