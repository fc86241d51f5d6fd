"""One front door: the CLI, the API and the pages show a ruling as the knowledge base holds it,
user data (trainers' teaching flags) included."""

from __future__ import annotations

import json
import re

from kb.cli import main
from kb.web import create_app

CASE = "ESC-1064"  # its source file does not make it a teaching example
FACTS = "Diwali stream: lit sparkler handed to toddler, host steps back to film"


def test_every_entry_point_agrees_on_a_flagged_ruling(corpus_settings, tmp_path, runner):
    settings = corpus_settings.replace(user_data_dir=str(tmp_path / "user"))
    client = create_app(settings, testing=True).test_client()
    env = {"KB_USER_DATA_DIR": settings.user_data_dir}
    batch = tmp_path / "queries.jsonl"
    batch.write_text(
        json.dumps({"id": "q", "query": FACTS, "filters": {"type": "ruling"}})
        + "\n"
        + json.dumps(
            {"id": "t", "query": FACTS, "filters": {"type": "ruling", "teaching_example": "true"}}
        )
        + "\n"
    )

    def cli(*args: str):
        out = runner.invoke(main, ["--data-dir", str(settings.data_dir), *args], env=env)
        assert out.exit_code == 0, out.output
        return out.output

    def flag_of(hits) -> bool:
        (hit,) = [h for h in hits if h["document_id"] == CASE]
        return hit["metadata"]["teaching_example"]

    def shown() -> dict[str, object]:
        doc = client.get(f"/api/documents/{CASE}").get_json()
        page = client.get(f"/documents/{CASE}").get_data(as_text=True)
        api = client.get("/api/search", query_string={"q": FACTS, "type": "ruling"}).get_json()
        flagged = client.get(
            "/api/search",
            query_string={"q": FACTS, "type": "ruling", "teaching_example": "true"},
        ).get_json()
        one, only = (
            json.loads(line) for line in cli("search", "--queries", str(batch)).split("\n")[:2]
        )
        return {
            "api document": doc["ruling"]["teaching_example"],
            "api document metadata": doc["version"]["metadata"]["teaching_example"],
            "page": re.search(r"<dt>Teaching example</dt><dd>(\w+)", page).group(1) == "yes",
            "api search": flag_of(api["results"]),
            "api filter": CASE in [h["document_id"] for h in flagged["results"]],
            "cli search": flag_of(
                json.loads(cli("search", FACTS, "--filter", "type=ruling", "--json"))["results"]
            ),
            "cli batch": flag_of(one["results"]),
            "cli batch filter": CASE in [h["document_id"] for h in only["results"]],
        }

    assert set(shown().values()) == {False}
    r = client.put(f"/api/rulings/{CASE}/teaching", json={"teaching_example": True})
    assert r.status_code == 200
    assert shown() == dict.fromkeys(shown(), True)
    # Flagged from the command line, off again: every entry point follows.
    cli("teaching", CASE, "--off")
    assert set(shown().values()) == {False}
