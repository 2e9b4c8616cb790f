"""Syncs that die or collide: `python -m etl sync quickbooks` killed with SIGKILL during its fetch
or inside its write transaction, and two syncs started at once, against the QuickBooks test
server. The books are hashed before and after; the next run must succeed with the saved token."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from core.db import read_only
from core.schema import BOOK_TABLES
from core.tokens import TokenStore
from tests.quickbooks_ledger import cli_environment, tick

ROOT = Path(__file__).resolve().parent.parent


def start_sync(env: dict, *extra: str) -> subprocess.Popen:
    """`python -m etl sync quickbooks`, its progress lines (stderr) readable as they come."""
    return subprocess.Popen([sys.executable, "-m", "etl", "sync", "quickbooks", *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def sync(env: dict, *extra: str) -> tuple[int, str, str]:
    return finish(start_sync(env, *extra))


def wait_until(condition, what: str, seconds: float = 60) -> None:
    """Poll `condition` until it holds (a synchronisation point between processes, not a timing test)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def read_line_until(process: subprocess.Popen, text: str) -> list[str]:
    """Read the process's stderr up to the first line containing `text`."""
    lines = []
    while True:
        line = process.stderr.readline()
        assert line, f"the process ended before saying {text!r}: {lines}"
        lines.append(line)
        if text in line:
            return lines


def books_digest(db: Path) -> str:
    """Every row of every book table (the run log aside), in key order."""
    with read_only(db) as con:
        rows = [repr(con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()) for table in BOOK_TABLES]
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def run_statuses(db: Path) -> list[tuple[str, str | None]]:
    with read_only(db) as con:
        return con.execute("SELECT status, error FROM sync_runs ORDER BY run_id").fetchall()


def kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def test_a_sync_killed_while_it_fetches_leaves_the_books_and_the_next_run_uses_the_saved_token(server, tmp_path):
    db = tmp_path / "qbo.duckdb"
    env = cli_environment(server, db)
    assert sync(env)[0] == 0
    before, runs_before = books_digest(db), run_statuses(db)
    tick(server)
    server.add_invoice(server.ids["acme"], server.now.date(), "55.00", doc_number="INV-NEW")
    answer = threading.Event()
    server.fail_next("cdc", "stall", until=answer)
    asked = server.requests["cdc"]
    process = start_sync(env)
    wait_until(lambda: server.requests["cdc"] > asked, "the sync to ask for changes")  # its token is rotated by now
    kill(process)
    answer.set()
    assert books_digest(db) == before and run_statuses(db) == runs_before
    assert TokenStore(db.parent / "tokens").get("quickbooks", server.realm_id) == server.current_refresh_token

    code, out, err = sync(env)
    assert code == 0, err
    with read_only(db) as con:
        assert con.execute("SELECT total FROM invoices WHERE doc_number = 'INV-NEW'").fetchone()[0] == 55


def test_a_sync_killed_inside_its_write_leaves_the_books_and_its_record_is_closed_next_time(big_server, tmp_path):
    db = tmp_path / "qbo.duckdb"
    env = cli_environment(big_server, db)
    assert sync(env)[0] == 0
    before = books_digest(db)
    tick(big_server)
    process = start_sync(env, "--full")  # 2,520 invoices and their payments to write again
    read_line_until(process, "Writing to the database")
    kill(process)
    assert books_digest(db) == before
    killed = run_statuses(db)[1:]
    assert killed in ([], [("running", None)])  # its record, if it got that far, says it never finished

    code, out, err = sync(env)
    assert code == 0, err
    assert books_digest(db) == before  # nothing changed on the server: the same books
    statuses = run_statuses(db)
    assert statuses[0][0] == statuses[-1][0] == "succeeded"
    assert [status for status, _ in statuses].count("running") == 0
    if killed:
        assert statuses[1] == ("failed", "stopped before it finished: the process running it ended (killed, crashed "
                                         "or out of disk space); nothing it read was written")


def test_a_second_sync_waits_for_the_first_and_neither_blames_the_token(server, tmp_path):
    db = tmp_path / "qbo.duckdb"
    env = cli_environment(server, db)
    assert sync(env)[0] == 0
    tick(server)
    answer = threading.Event()
    server.fail_next("cdc", "stall", until=answer)
    asked = server.requests["cdc"]
    first = start_sync(env)
    wait_until(lambda: server.requests["cdc"] > asked, "the first sync to be fetching")
    second = start_sync(env)
    waited = read_line_until(second, "Waiting for another run")
    answer.set()
    assert f"(PID {first.pid}, python -m etl sync quickbooks, since " in waited[-1]
    refreshes = server.refreshes
    (code_1, _, err_1), (code_2, _, err_2) = finish(first), finish(second)
    assert (code_1, code_2) == (0, 0), err_1 + err_2
    assert server.refreshes == refreshes + 1  # the second refreshed once, with the token the first saved
    assert [status for status, _ in run_statuses(db)] == ["succeeded"] * 3


def test_a_second_sync_that_cannot_wait_says_who_holds_the_books(server, tmp_path):
    db = tmp_path / "qbo.duckdb"
    env = cli_environment(server, db)
    assert sync(env)[0] == 0
    answer = threading.Event()
    server.fail_next("cdc", "stall", until=answer)
    asked = server.requests["cdc"]
    first = start_sync(env)
    wait_until(lambda: server.requests["cdc"] > asked, "the first sync to be fetching")
    code, out, err = sync({**env, "LEDGERLIGHT_LOCK_WAIT": "1"})
    answer.set()
    assert code == 2
    error = err.splitlines()[-1]
    assert error.startswith(f"error: another run is using {db} (PID {first.pid}, python -m etl sync quickbooks, since ")
    assert error.endswith("this one waited 1 s and wrote nothing. Try again when it has finished.")
    assert "token" not in error
    assert finish(first)[0] == 0


def test_two_books_files_sharing_one_token_take_turns_to_refresh_it(server, tmp_path):
    """Two files synced from the same company at once (a test copy beside the real one): the
    refresh token rotates on each refresh, so the second waits for the first's and uses its token."""
    one, two = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    env_one = cli_environment(server, one)
    env_two = {**cli_environment(server, two), "LEDGERLIGHT_TOKENS": env_one["LEDGERLIGHT_TOKENS"]}
    answer = threading.Event()
    server.fail_next("token", "stall", until=answer)
    asked = server.requests["token"]
    first = start_sync(env_one)
    wait_until(lambda: server.requests["token"] > asked, "the first sync to be refreshing")
    second = start_sync(env_two)
    read_line_until(second, "Waiting for another run to finish refreshing the quickbooks token")
    answer.set()
    (code_1, _, err_1), (code_2, _, err_2) = finish(first), finish(second)
    assert (code_1, code_2) == (0, 0), err_1 + err_2  # unlocked, the second would spend a token already rotated
    assert TokenStore(one.parent / "tokens").get("quickbooks", server.realm_id) == server.current_refresh_token
    assert books_digest(one) == books_digest(two)
