"""Property-based API tests: schemathesis generates requests from /api/openapi.json, valid and
invalid, and sends them to the app on the shipped sample corpus. No operation may answer 5xx,
valid requests must be accepted, invalid ones refused, and every response must match the
documented status codes, content types and schemas."""

from __future__ import annotations

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from kb.blank import is_blank
from kb.collections import Collections
from kb.web import create_app
from kb.web.openapi import spec
from tests.conftest import API_SEED, FUZZ, examples

# The document the app serves at /api/openapi.json (test_served_document_is_the_spec), loaded
# from the dict so that each operation is its own test and the app can come from a fixture.
schema = schemathesis.openapi.from_dict(spec())
# Each operation gets this many generated requests per phase (examples, coverage, fuzzing).
schema.config.generation.update(max_examples=examples(30))
if not FUZZ:  # `make test` sends the same requests every run; `make fuzz` new ones each time
    schema.config.seed = API_SEED


@schema.hook
def filter_case(context, case) -> bool:
    """Drop 'valid' requests that break a rule OpenAPI cannot state across parameters."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return True
    args = {**(case.query or {}), **(case.body if isinstance(case.body, dict) else {})}
    if args.get("date_from") and args.get("date_to") and args["date_to"] < args["date_from"]:
        return False  # date_to before date_from is refused
    if case.operation.path == "/api/rulings/similar":
        return not is_blank(str(args.get("q") or "")) or bool(args.get("case_id"))  # one of the two
    return True


@pytest.fixture(scope="module", autouse=True)
def own_user_data(app, tmp_path_factory):
    """Generated POST/PUT/PATCH/DELETE requests write collections and teaching flags: keep them
    out of the session app's data dir so that other tests see none of them."""
    state = app.extensions["kb"]
    real = state.collections
    state.collections = Collections(tmp_path_factory.mktemp("schemathesis-userdata"))
    yield
    state.collections.close()
    state.collections = real


@pytest.fixture(scope="module", params=["embedded", "postgres"])
def api_app(request, app):
    """The app the generated requests go to: on the session's index with its own user data,
    and with backend=postgres (indexes and user data in PostgreSQL)."""
    if request.param == "embedded":
        yield app
        return
    from kb.pgdb import PostgresPlace

    settings = request.getfixturevalue("postgres_corpus_settings")
    app = create_app(settings, testing=True)
    state = app.extensions["kb"]
    state.collections = Collections(PostgresPlace(settings.database_url, "api_userdata"))
    yield app
    state.collections.close()


def test_served_document_is_the_spec(client):
    assert client.get("/api/openapi.json").get_json() == spec()


def test_the_document_states_the_limits_the_app_runs_with(corpus_settings):
    narrow = create_app(corpus_settings.replace(max_k=7, max_query_chars=50), testing=True)
    doc = narrow.test_client().get("/api/openapi.json").get_json()
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/search"]["get"]["parameters"]}
    assert (params["q"]["maxLength"], params["k"]["maximum"]) == (50, 7)
    r = narrow.test_client().get("/api/search", query_string={"q": "sparkler", "k": 8})
    assert r.status_code == 400  # and the app keeps to it


@schema.parametrize()
# Real searches take tens of ms and filter_case drops some cases: both are expected here.
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api(case, api_app):
    case.call_and_validate(app=api_app)


# What schemathesis once sent, {"ref": "\u0085"}, then other spaces of several scripts, and
# U+FEFF, which ECMA 262 calls a space and Python does not.
@pytest.mark.parametrize(
    "ref", ["\u0085", "\u00a0", "\u2028", "\u3000", "\x1f", " \t\n", "\ufeff", "\ufeffx"]
)
def test_blank_means_the_same_to_the_server_and_to_the_schema(client, app, ref):
    client.post("/api/collections", json={"name": "blanks"})
    operation = schema["/api/collections/{name}/items"]["POST"]
    body_schema = spec()["paths"]["/api/collections/{name}/items"]["post"]["requestBody"]
    # jsonschema_rs is what schemathesis checks requests and responses with (ECMA 262 regexes).
    valid = jsonschema_rs.validator_for(body_schema["content"]["application/json"]["schema"])
    body = {"ref": ref}
    r = client.post("/api/collections/blanks/items", json=body)
    blank = is_blank(ref)  # the server's rule, which is str.strip's
    assert valid.is_valid(body) is not blank
    if blank:
        assert r.status_code == 400
        assert r.get_json()["error"]["message"] == "ref must be a non-empty string"
    else:  # accepted, looked up, not found
        assert r.status_code == 404 and "neither a passage id" in r.get_json()["error"]["message"]
    case = operation.Case(
        path_parameters={"name": "blanks"}, body=body, media_type="application/json"
    )
    case.call_and_validate(app=app)  # status, content type and body as documented
