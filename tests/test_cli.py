"""`python -m etl`: real subprocesses, real files; exit codes and output shapes are a contract."""

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import duckdb
import pytest

from core.schema import SCHEMA_VERSION
from etl.cli import main

ROOT = Path(__file__).resolve().parent.parent


def etl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "etl", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def etl_here(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """What `etl(*args)` gives, from etl.cli.main in this process: the code `python -m etl` runs
    (etl/__main__.py), without a new interpreter's second or two of imports. `env`: the whole
    environment for the call. This module's tests run the real subprocess, for the wiring."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        if env is not None:
            for name in set(os.environ) - set(env):
                patch.delenv(name)
            for name, value in env.items():
                patch.setenv(name, value)
        try:
            code = main(list(args))
        except SystemExit as exit:  # argparse's refusals
            code = exit.code
    return subprocess.CompletedProcess([sys.executable, "-m", "etl", *args], code, out.getvalue(), err.getvalue())


def test_help_lists_the_subcommands():
    result = etl("--help")
    assert result.returncode == 0
    assert "demo" in result.stdout and "info" in result.stdout


def test_demo_then_info_json(tmp_path):
    db = tmp_path / "cli.duckdb"
    built = etl("demo", "--db", str(db), "--as-of", "2026-11-25", "--clients", "12", "--months", "6", "--seed", "3")
    assert built.returncode == 0, built.stderr
    assert f"Demo company written to {db} as of 2026-11-25" in built.stdout

    info = etl("info", "--db", str(db), "--format", "json")
    assert info.returncode == 0, info.stderr
    summary = json.loads(info.stdout)
    assert summary["schema_version"] == SCHEMA_VERSION
    (company,) = summary["companies"]
    assert (company["source"], company["company_id"], company["data_through"]) == ("demo", "demo-msp", "2026-11-25")
    assert company["counts"]["customers"] >= 12
    assert company["counts"]["invoices"] >= 12 * 6 * 0.5
    assert company["first_invoice"] >= "2026-05-01" and company["last_invoice"] <= "2026-11-25"
    assert company["last_sync"]["kind"] == "demo" and company["last_sync"]["status"] == "succeeded"

    table = etl("info", "--db", str(db))
    assert "Northwind Managed IT (demo)" in table.stdout and "invoices" in table.stdout


def test_malformed_date_is_a_one_line_error(tmp_path):
    result = etl("demo", "--db", str(tmp_path / "x.duckdb"), "--as-of", "2026-13-01")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "python -m etl demo: error: argument --as-of: '2026-13-01' is not a date: use YYYY-MM-DD (see --help)"]
    assert not (tmp_path / "x.duckdb").exists()


def test_foreign_file_is_refused_with_exit_2(tmp_path):
    db = tmp_path / "other.duckdb"
    duckdb.connect(str(db)).execute("CREATE TABLE t (x INTEGER)").close()
    result = etl("info", "--db", str(db))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {db} is a DuckDB file from something else (it holds t)")


def test_a_reader_that_goes_away_gets_no_traceback(demo_db):
    """`python -m etl report ... | head`: the pipe closes before the report is written."""
    process = subprocess.Popen([sys.executable, "-m", "etl", "report", "aging", "--db", str(demo_db), "--format", "csv"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    assert process.wait(timeout=120) == 0
    assert process.stderr.read() == ""
