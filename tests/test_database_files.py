"""A file that is not a usable ledgerlight database is refused by every command, with the file and
the cause named, exit code 2, and its bytes unchanged: never written to, never "repaired".

Each bad file is made from a real one (a small demo company) or from another program's output,
and every command that opens a database is run on it in this process (`etl.cli.main`).
"""

from __future__ import annotations

import hashlib
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pytest

from core.db import read_only
from tests.conftest import build_demo
from tests.test_cli import etl_here

ROOT = Path(__file__).resolve().parent.parent
BLOCK = 262144  # DuckDB's block size; the first 12,288 bytes are its headers

WRITERS = {
    "import": lambda db, roster: ["import", "autopay", str(roster), "--db", str(db)],
    "infer": lambda db, roster: ["infer", "autopay", "--db", str(db)],
    "demo": lambda db, roster: ["demo", "--db", str(db), "--clients", "3", "--months", "2"],
    "info": lambda db, roster: ["info", "--db", str(db)],  # upgrades a file in place: a writer too
}
READERS = {
    "report": lambda db, roster: ["report", "aging", "--db", str(db)],
    "backtest": lambda db, roster: ["backtest", "--db", str(db), "--format", "json"],
}
COMMANDS = {**WRITERS, **READERS}


@pytest.fixture(scope="module")
def good_file(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("good") / "good.duckdb"
    build_demo(db, clients=30, months=12)
    return db


def _foreign(path: Path, *statements: str) -> None:
    con = duckdb.connect(str(path))
    for statement in statements:
        con.execute(statement)
    con.close()


def _sqlite(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE invoices (id INTEGER, total REAL)")
    con.commit()
    con.close()


def _damage_every_block(good: bytes) -> bytes:
    damaged = bytearray(good)
    for start in range(12288, len(damaged), BLOCK):
        damaged[start + 100:start + 4196] = random.Random(start).randbytes(4096)
    return bytes(damaged)


def _damage_one_invoices_block(good: Path, into: Path) -> None:
    """Damage one data block that reading the invoices table needs, leaving the catalog readable:
    the file opens, and only a read of that block finds the fault."""
    data = good.read_bytes()
    for start in range(12288 + BLOCK, len(data), BLOCK):
        damaged = bytearray(data)
        damaged[start + 100:start + 4196] = random.Random(start).randbytes(4096)
        into.write_bytes(bytes(damaged))
        try:
            con = duckdb.connect(str(into), read_only=True)
        except duckdb.Error:
            continue  # a catalog block: the file would not even open
        try:
            con.execute("SELECT * FROM invoices").fetchall()
        except duckdb.Error:
            return
        finally:
            con.close()
    raise AssertionError("no block of the invoices table found to damage")


def _newer(path: Path, good: Path) -> None:
    shutil.copy(good, path)
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_version VALUES (99, 'from the future', TIMESTAMP '2030-01-01')")
    con.close()


# kind: (how to make it from the good file, what the error says)
BAD_FILES = {
    "empty": (lambda p, g: p.write_bytes(b""), "is an empty file, not a database"),
    "text": (lambda p, g: p.write_text("my notes, not a database\n" * 400), "is not a DuckDB database (it does not start like one)"),
    "csv": (lambda p, g: p.write_text("customer,autopay\nAcme,yes\n" * 500), "is not a DuckDB database (it does not start like one)"),
    "zip": (lambda p, g: p.write_bytes(b"PK\x03\x04" + bytes(30000)), "is not a DuckDB database (it does not start like one)"),
    "random bytes": (lambda p, g: p.write_bytes(random.Random(7).randbytes(40000)), "is not a DuckDB database (it does not start like one)"),
    "sqlite": (lambda p, g: _sqlite(p), "is a SQLite database, not a DuckDB one"),
    "cut in its header": (lambda p, g: p.write_bytes(g.read_bytes()[:5000]), "is truncated: it ends inside its own header"),
    "cut in half": (lambda p, g: p.write_bytes(g.read_bytes()[:len(g.read_bytes()) // 2]), "is truncated: it ends before its last block"),
    "every block damaged": (lambda p, g: p.write_bytes(_damage_every_block(g.read_bytes())), "is corrupt (Corrupt database file"),
    "one block damaged": (lambda p, g: _damage_one_invoices_block(g, p), "is corrupt (Corrupt database file"),
    "another program's tables": (lambda p, g: _foreign(p, "CREATE TABLE orders (id INTEGER)"),
                                 "is a DuckDB file from something else (it holds orders)"),
    "only views": (lambda p, g: _foreign(p, "CREATE VIEW recent_orders AS SELECT 1 AS id"),
                   "is a DuckDB file from something else (it holds recent_orders)"),
    "only a sequence": (lambda p, g: _foreign(p, "CREATE SEQUENCE order_ids"), "is a DuckDB file from something else (it holds order_ids)"),
    "only a macro": (lambda p, g: _foreign(p, "CREATE MACRO net(a, b) AS a - b"), "is a DuckDB file from something else (it holds net)"),
    "from a newer ledgerlight": (_newer, "was written by a newer ledgerlight (schema 99"),
    "a folder": (lambda p, g: p.mkdir(), "is a folder, not a database file"),
}


def digest(path: Path) -> str:
    if path.is_dir():
        return "folder:" + ",".join(sorted(os.listdir(path)))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(argv: list[str]) -> tuple[int, str]:
    """The exit code and the error: the last line on stderr, after any progress lines."""
    done = etl_here(*argv)
    lines = done.stderr.splitlines()
    assert all(line.startswith("progress ") for line in lines[:-1]), lines
    return done.returncode, (lines[-1] + "\n") if lines else ""


@pytest.mark.parametrize("kind", BAD_FILES)
def test_every_command_refuses_a_bad_file_and_leaves_it_as_it_was(kind, good_file, tmp_path):
    make, says = BAD_FILES[kind]
    db = tmp_path / "books.duckdb"
    make(db, good_file)
    roster = tmp_path / "roster.csv"
    roster.write_text("customer,autopay\nAcme,yes\n")
    before = digest(db)
    for command, argv in COMMANDS.items():
        if kind == "one block damaged" and command == "backtest":
            continue  # reads only what its forecast needs; the writers and the aging report must find it
        code, err = run_cli(argv(db, roster))
        assert (code, err.count("\n")) == (2, 1), f"{command}: {err}"
        assert err.startswith(f"error: {db} ") and says in err, f"{command}: {err}"
        assert "Traceback" not in err
        assert digest(db) == before, f"{command} changed the file"
        assert not Path(f"{db}.wal").exists(), f"{command} started a WAL beside it"


def test_no_extension_is_ever_loaded_or_downloaded(good_file):
    with read_only(good_file) as con:
        settings = dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name LIKE 'auto%_known_extensions'").fetchall())
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


def test_a_missing_file_is_not_created_by_info(tmp_path):
    typo = tmp_path / "ledgerlihgt.duckdb"
    code, err = run_cli(["info", "--db", str(typo)])
    assert code == 2 and err.startswith(f"error: {typo} does not exist (check the name).")
    assert not typo.exists()


@pytest.fixture
def holder(good_file, tmp_path):
    """Another process holding the file open for writing (what a sync does), for 30 s at most."""
    db = tmp_path / "held.duckdb"
    shutil.copy(good_file, db)
    process = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
                                "print('open', flush=True); time.sleep(30)", str(db)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "open\n"
    yield db, process.pid
    process.kill()
    process.wait()


def test_a_file_held_by_another_process_names_it(holder, tmp_path, monkeypatch):
    db, pid = holder
    monkeypatch.setenv("LEDGERLIGHT_LOCK_WAIT", "0.3")
    roster = tmp_path / "roster.csv"
    roster.write_text("customer,autopay\nAcme,yes\n")
    for command, argv in COMMANDS.items():
        code, err = run_cli(argv(db, roster))
        assert code == 2, f"{command}: {err}"
        assert f"is in use by another process (PID {pid}: {sys.executable} -c import duckdb" in err, f"{command}: {err}"
        assert "for more than 0 s; nothing was written" in err


def _as_another_user(action) -> str:
    """Run `action()` (which returns text) as a user who is not the file's owner: root reads and
    writes everything, so as root the action runs in a child process that drops to `nobody`."""
    if os.geteuid() != 0:
        return action()
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.close(reader)
        try:
            os.setgid(65534)
            os.setuid(65534)
            text = action()
        except BaseException as exc:
            text = f"child failed: {exc!r}"
        os.write(writer, text.encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        text = pipe.read()
    os.waitpid(child, 0)
    return text


def _cli_error(argv: list[str]) -> str:
    """The CLI's exit code and error (its last line on stderr), as text for a child process to hand back."""
    done = etl_here(*argv)
    return f"{done.returncode} {done.stderr.splitlines()[-1]}"


@pytest.fixture
def shared_folder():
    """A folder every user can reach (pytest's own temporary folders are private to their owner)."""
    folder = Path(tempfile.mkdtemp(prefix="ledgerlight-shared-"))
    os.chmod(folder, 0o777)
    yield folder
    shutil.rmtree(folder)


@pytest.mark.parametrize("case, says", [
    ("unreadable", "cannot read {db}: permission denied (owner uid"),
    ("read-only file", "cannot write {db}: the file is read-only for this user (owner uid"),
    ("read-only folder", "cannot write {db}: its folder (DuckDB writes a .wal file beside it) is read-only for this user"),
    ("folder not entered", "cannot reach {db}: permission denied on a folder on its path"),
])
def test_permissions_are_named_as_such(case, says, good_file, shared_folder):
    folder = shared_folder
    db = folder / "books.duckdb"
    shutil.copy(good_file, db)
    os.chmod(db, {"unreadable": 0o600, "read-only file": 0o644}.get(case, 0o666))
    os.chmod(folder, {"read-only folder": 0o755, "folder not entered": 0o700}.get(case, 0o777))
    before = digest(db)
    out = _as_another_user(lambda: _cli_error(["demo", "--db", str(db), "--clients", "3", "--months", "2"]))
    assert out.startswith("2 error: ") and says.format(db=db) in out, out
    assert digest(db) == before


def _limited_run(argv: list[str], file_size_limit: int) -> subprocess.CompletedProcess:
    """Run the CLI with files capped at `file_size_limit` bytes: the disk is full for this process."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
    return subprocess.run([sys.executable, "-m", "etl", *argv], cwd=ROOT, capture_output=True, text=True,
                          preexec_fn=limit, timeout=120)


def test_a_full_disk_is_named_and_the_books_stay_as_they_were(good_file, tmp_path):
    db = tmp_path / "books.duckdb"
    shutil.copy(good_file, db)
    with read_only(db) as con:
        before = con.execute("SELECT count(*), sum(total) FROM invoices").fetchall()
    full = _limited_run(["demo", "--db", str(db), "--clients", "60", "--months", "12"], 50_000)
    assert full.returncode == 2, full.stderr
    error = full.stderr.splitlines()[-1]
    assert error.startswith(f"error: there is no room to write {db} (") and "File too large" in error
    assert error.endswith("free some disk space and run again; nothing was written.")
    with read_only(db) as con:
        assert con.execute("SELECT count(*), sum(total) FROM invoices").fetchall() == before
        assert con.execute("SELECT status FROM sync_runs ORDER BY run_id DESC LIMIT 1").fetchall() in ([("failed",)], [("running",)])
    again = subprocess.run([sys.executable, "-m", "etl", "demo", "--db", str(db), "--clients", "60", "--months", "12"],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    with read_only(db) as con:
        assert con.execute("SELECT count(*) FROM customers").fetchone() == (60,)
        assert con.execute("SELECT count(*) FROM sync_runs WHERE status = 'running'").fetchone() == (0,)
