"""`kb users` and `kb audit` on a data dir, and `kb serve`'s refusals."""

from __future__ import annotations

import json

from click.testing import CliRunner

from kb.audit import AuditLog
from kb.cli import main
from kb.users import Users

PASSWORD = "a long enough password"


def run(data_dir, *args, input=None):
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), *args], input=input)
    return result


def test_users_add_token_role_and_remove(tmp_path):
    data = tmp_path / "index"
    assert (
        run(
            data,
            "users",
            "add",
            "Alice",
            "--role",
            "admin",
            "--password-stdin",
            input=PASSWORD + "\n",
        ).exit_code
        == 0
    )
    bad = run(data, "users", "add", "bob", "--role", "policy", "--password-stdin", input="short\n")
    assert bad.exit_code == 1 and "at least 10 characters" in bad.output
    assert (
        run(
            data,
            "users",
            "add",
            "bob",
            "--role",
            "policy",
            "--password-stdin",
            input=PASSWORD + "\n",
        ).exit_code
        == 0
    )
    token = run(data, "users", "token", "bob", "--label", "bot")
    secret = token.stdout.strip().splitlines()[-1]
    store = Users(data)
    assert store.token_user(secret).name == "bob"
    assert store.authenticate("alice", PASSWORD).role == "admin"  # names are lower-cased
    assert store.authenticate("alice", "wrong password") is None
    passwd = run(data, "users", "passwd", "bob", "--password-stdin", input=PASSWORD + "!\n")
    assert passwd.exit_code == 0 and "1 API token(s) still valid" in passwd.output
    assert store.token_user(secret).name == "bob"  # a password change keeps API tokens
    listed = json.loads(run(data, "users", "list", "--json").stdout)
    assert [u["name"] for u in listed["users"]] == ["alice", "bob"]
    assert secret not in json.dumps(listed)  # only the token id and label are shown
    assert run(data, "users", "role", "bob", "moderator").exit_code == 0
    assert store.get("bob").role == "moderator"
    last_admin = run(data, "users", "remove", "alice")
    assert last_admin.exit_code == 1 and "last admin" in last_admin.output
    demoted = run(data, "users", "role", "Alice", "policy")  # any case names the user
    assert demoted.exit_code == 1 and "alice is the last admin" in demoted.output
    assert run(data, "users", "remove", "bob").exit_code == 0
    assert store.token_user(secret) is None  # tokens go with their user
    missing = run(data, "users", "remove", "nobody")
    assert missing.exit_code == 1 and "no user 'nobody'" in missing.output


def test_audit_command_filters_and_exports_csv(tmp_path):
    data = tmp_path / "index"
    log = AuditLog(data)
    log.record("mod", "moderator", "search", '=HYPERLINK("x")', detail={"endpoint": "api.search"})
    log.record("pol", "policy", "view", "ESC-1001", detail={"endpoint": "ui.document"})
    out = run(data, "audit", "--user", "mod", "--csv").stdout
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("event_id,at,user,role,action")
    assert "'=HYPERLINK" in lines[1]  # a formula is neutralised for spreadsheets
    bad = run(data, "audit", "--until", "tbody_open")
    assert bad.exit_code == 1 and "is not a date (YYYY-MM-DD) or timestamp" in bad.output
    table = run(data, "audit", "--action", "view").stdout
    assert "ESC-1001" in table and "HYPERLINK" not in table


def test_serve_refuses_users_mode_without_an_admin_and_local_mode_off_loopback(
    tmp_path, write, monkeypatch
):
    from kb.config import Settings
    from kb.ingest.pipeline import ingest

    data = tmp_path / "index"
    write("a.md", "# A\n\nSome policy text.\n")
    ingest(Settings.load(data_dir=data, dense_index=False), [tmp_path / "src"])
    monkeypatch.setenv("KB_AUTH", "users")
    result = run(data, "serve", "--port", "1")
    assert result.exit_code == 1 and "kb users add NAME --role admin" in result.output
    monkeypatch.setenv("KB_AUTH", "local")
    result = run(data, "serve", "--host", "0.0.0.0", "--port", "1")
    assert result.exit_code == 1 and "refusing to serve on 0.0.0.0" in result.output


def test_audit_keeps_text_utf8_cannot_store(user_store):
    """A JSON body may carry a lone surrogate (\\udbd8) or a NUL (which PostgreSQL's text
    cannot hold); the event is kept, readable."""
    log = AuditLog(user_store)
    log.record("mod", "moderator", "search", "a \udbd8 b\x00", detail={"body": {"x\udbd8": []}})
    (event,) = log.events()
    assert event["target"] == "a \\udbd8 b\\x00"
    assert "\\udbd8" in log.to_csv([event]).encode("utf-8").decode("utf-8")


def test_audit_detail_is_bounded_and_stays_json(user_store):
    log = AuditLog(user_store)
    log.record("mod", "moderator", "search", detail={"args": {"q": "x" * 10_000}})
    (event,) = log.events()
    assert set(event["detail"]) == {"truncated"} and len(event["detail"]["truncated"]) < 4000
