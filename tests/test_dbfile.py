"""The user data under many threads at once: real SQLite files (and PostgreSQL), real
threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from kb.dbfile import DBFile
from kb.users import Users

THREADS = 24


def _at_once(work, n: int = THREADS) -> list:
    """Run work(i) for i in range(n) on n threads released together; their results."""
    start = threading.Barrier(n)

    def run(i: int):
        start.wait()
        return work(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_api_tokens_used_from_many_threads_at_once(user_store):
    store = Users(user_store)
    store.add("bob", "policy", "a long enough password")
    secrets = [store.create_token("bob", str(i))[1] for i in range(THREADS * 10)]

    def use(i: int) -> list[str]:
        out = []
        for secret in secrets[i::THREADS]:  # each token's first use writes its last_used
            try:
                user = store.token_user(secret)
                out.append(user.name if user else "none")
            except Exception as exc:  # what the requests answered with 500
                out.append(f"{type(exc).__name__}: {exc}")
        return out

    results = [r for rs in _at_once(use) for r in rs]
    assert results == ["bob"] * len(secrets)
    assert all(t["last_used"] for t in store.tokens("bob"))
    store.close()


def test_a_write_transaction_is_atomic_across_threads_and_connections(tmp_path):
    schema = "CREATE TABLE IF NOT EXISTS n (v INTEGER)"
    # Two files on one path, as two processes would open it.
    files = [DBFile(tmp_path / "x.sqlite", schema, what="counters") for _ in range(2)]
    with files[0].write() as db:
        db.execute("INSERT INTO n VALUES (0)")

    def bump(i: int) -> None:
        for _ in range(20):  # read, then write what was read plus one: lost updates show
            with files[i % 2].write() as db:
                (v,) = db.execute("SELECT v FROM n").fetchone()
                db.execute("UPDATE n SET v = ?", (v + 1,))

    _at_once(bump)
    assert files[1].fetchone("SELECT v FROM n") == (THREADS * 20,)
    for f in files:
        f.close()
