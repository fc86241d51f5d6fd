"""`kb similar` and `kb consistency`: precedents for a case, and diverging outcomes."""

from __future__ import annotations

import json

import click
from rich.markup import escape

from kb.cli.common import console, json_option
from kb.config import Settings
from kb.users import LOCAL_USER


@click.command()
@click.argument("text", required=False)
@click.option("--case", "case_id", help="Use this ruling's facts as the description.")
@click.option("-k", "k", default=10, show_default=True)
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE")
@json_option(None)
@click.pass_obj
def similar(
    settings: Settings,
    text: str | None,
    case_id: str | None,
    k: int,
    filters: tuple[str, ...],
    as_json: bool,
) -> None:
    """Rulings most similar to a case description TEXT (or to --case ID), with outcomes."""
    from kb.service import KnowledgeBase

    if (text is None) == (case_id is None):
        raise click.UsageError("give a case description TEXT or --case ID (not both)")
    with KnowledgeBase.open(settings) as kb:
        found = kb.similar(
            LOCAL_USER, text, case_id=case_id, k=k, filters=kb.parse_filters(list(filters))
        )
    if as_json:
        click.echo(json.dumps(found.to_dict(), ensure_ascii=False))
        return
    hits, outcomes = found.hits, found.outcomes
    console.print("outcomes: " + ", ".join(f"{n} {o}" for o, n in outcomes.most_common()))
    for h in hits:
        m = h.metadata
        flag = "" if m.get("ruling_status") == "active" else f" [{m.get('ruling_status')}]"
        if not flag and m.get("precedent_status") not in (None, "sound"):
            flag = f" [{m['precedent_status'].replace('_', ' ')}]"
        console.print(
            f"{h.rank}. {escape(h.citation.title)} — [bold]{m.get('outcome')}[/bold], "
            f"{m.get('decision_date')}, {', '.join(m.get('regions', []))}{flag} "
            f"[dim](similarity {h.scores['dense_score']:.2f})[/dim]"
        )


@click.command()
@click.option("--threshold", type=float, help="Facts similarity that makes rulings a group.")
@click.option("--all", "show_all", is_flag=True, help="Also list consistent and explained groups.")
@json_option(None)
@click.option("--csv", "as_csv", is_flag=True, help="One row per ruling of each reported group.")
@click.option("--surface", help="Only groups on this surface.")
@click.option("--region", help="Only groups with a ruling from this region.")
@click.option("--clause", help="Only groups applying a clause with this id prefix (LIVE-DNG).")
@click.pass_obj
def consistency(
    settings: Settings,
    threshold: float | None,
    show_all: bool,
    as_json: bool,
    as_csv: bool,
    surface: str | None,
    region: str | None,
    clause: str | None,
) -> None:
    """Groups of near-identical rulings whose outcomes diverge with no explanation."""
    from kb.precedents import GROUP_THRESHOLD
    from kb.service import KnowledgeBase

    with KnowledgeBase.open(settings) as kb:
        groups = kb.consistency(
            LOCAL_USER, threshold, surface=surface, region=region, clause=clause
        )
    shown = groups if show_all else [g for g in groups if g.open]
    settled = [g for g in groups if g.inconsistent and g.resolution]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "threshold": threshold or GROUP_THRESHOLD,
                    "groups": [g.to_dict() for g in shown],
                    "resolved": [g.to_dict() for g in settled],
                },
                ensure_ascii=False,
            )
        )
        return
    if as_csv:
        from kb.precedents import report_csv

        click.echo(report_csv(shown), nl=False)
        return
    console.print(
        f"{sum(g.open for g in groups)} open inconsistent group(s), {len(settled)} settled, "
        f"among {len(groups)} groups of near-identical rulings"
    )
    for n, g in enumerate(shown, start=1):
        label = "INCONSISTENT" if g.open else (g.explained_by or "consistent")
        if g.resolution:
            label = f"settled: {g.resolution.standing} stands"
        console.print(
            f"\n[bold]{n}. {label}[/bold] — "
            + ", ".join(f"{c} {o}" for o, c in g.outcomes.most_common())
            + f"\n   {escape(g.topic)}"
        )
        for r in g.rulings:
            console.print(
                f"   {r.case_id} {r.decision_date} {r.region} [bold]{r.outcome}"
                f"[/bold]: {escape(r.rationale[:160])}"
            )


@click.command()
@click.argument("case_id")
@click.option("--standing", required=True, help="The outcome that stands, or 'both'.")
@click.option("--note", required=True, help="Why (kept with the resolution).")
@click.pass_obj
def resolve(settings: Settings, case_id: str, standing: str, note: str) -> None:
    """Settle the inconsistent group CASE_ID is in: the outcome that stands (or both)."""
    from kb.service import KnowledgeBase

    with KnowledgeBase.open(settings, user_data=True) as kb:
        done = kb.resolve(case_id, standing, note, LOCAL_USER)
    console.print(
        f"settled {', '.join(sorted(done.case_ids))}: {done.standing} stands"
        + ("" if done.standing == "both" else "; the others are not to be followed")
    )


@click.command()
@click.option("--owner", help="Only documents this owner keeps.")
@json_option(None)
@click.option("--csv", "as_csv", is_flag=True, help="One row per document.")
@click.pass_obj
def review(settings: Settings, owner: str | None, as_json: bool, as_csv: bool) -> None:
    """What needs review: past review dates, stale guidance and outdated rulings."""
    from kb.review import to_csv
    from kb.service import KnowledgeBase

    with KnowledgeBase.open(settings) as kb:
        items = kb.review(LOCAL_USER, owner)
    if as_json:
        click.echo(json.dumps({"items": [i.to_dict() for i in items]}, ensure_ascii=False))
        return
    if as_csv:
        click.echo(to_csv(items), nl=False)
        return
    console.print(f"{len(items)} document(s) need review")
    for i in items:
        who = f" — {escape(i.owner)}" if i.owner else ""
        console.print(f"\n[bold]{i.doc_id}[/bold] {escape(i.title)} ({i.doc_type}){who}")
        for reason in i.reasons:
            console.print(f"   {escape(reason)}")


@click.command()
@click.argument("case_id")
@click.option("--statement", is_flag=True, help="Its statement of reasons, as text to send.")
@json_option("Print the statement of reasons as JSON.")
@click.pass_obj
def ruling(settings: Settings, case_id: str, statement: bool, as_json: bool) -> None:
    """A ruling: decision, grounds and default enforcement of the clauses it applied."""
    from kb.service import KnowledgeBase

    with KnowledgeBase.open(settings) as kb:
        found = kb.statement(case_id, LOCAL_USER)
    if as_json:
        click.echo(json.dumps(found.to_dict(), ensure_ascii=False))
        return
    if statement:
        click.echo(found.text)
        return
    r = found.ruling
    console.print(f"[bold]{escape(r.title)}[/bold]")
    console.print(f"{r.decision_date} · {r.surface} · {r.region} · {r.outcome} · {r.status}")
    console.print(escape(r.decision))
    for g in found.grounds:
        rule = g.enforcement
        default = (
            f"default {' + '.join(rule.actions)}, {rule.severity}, {rule.strike} strike"
            if rule and rule.actions
            else "no default enforcement stated"
        )
        console.print(f"   {g.clause_id} {escape(g.clause_title)}: {default}")


COMMANDS = (similar, consistency, resolve, review, ruling)
