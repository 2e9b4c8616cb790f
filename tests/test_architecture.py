"""The folder tree is the architecture: each layer imports only the layers below it
(core → models → metrics → etl → ui → pages), sources only fetch and map, SQL lives in models/,
the environment is read in one place, and no test reads the wall clock."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py")) if folders else []


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# What each layer may not import (the layers above it, and for pages and sources, more).
FORBIDDEN = {
    "core": ("models", "metrics", "etl", "ui", "pages"),
    "models": ("metrics", "etl", "ui", "pages"),
    "metrics": ("etl", "ui", "pages"),
    "etl/sources": ("etl.pipeline", "etl.sources.", "core.db", "duckdb", "metrics", "models", "ui"),
    "ui": ("pages",),
    "pages": ("etl", "core.db", "duckdb", "models"),
}


@pytest.mark.parametrize("layer", list(FORBIDDEN))
def test_each_layer_imports_only_what_lies_below_it(layer):
    files = [ROOT / "app.py", *python_files("pages")] if layer == "pages" else python_files(layer)
    broken = {}
    for path in files:
        own_package = ".".join(path.relative_to(ROOT).parts[:3]) if layer == "etl/sources" else None
        bad = sorted(module for module in imported_modules(path)
                     if any(module == f or module.startswith(f if f.endswith(".") else f + ".") for f in FORBIDDEN[layer])
                     and not (own_package and module.startswith(own_package.removesuffix(".py"))))
        if bad:
            broken[relative(path)] = bad
    assert files and not broken


def test_sql_lives_in_models():
    # Sources never touch DuckDB (see FORBIDDEN); QuickBooks' own query language does not count.
    select = re.compile(r"\bSELECT\b[^\n]*\bFROM\b")
    holders = [relative(path) for path in python_files("metrics", "ui", "pages") + [ROOT / "app.py"]
               if select.search(path.read_text())]
    assert holders == []


def test_only_the_settings_reader_reads_the_environment():
    readers = [relative(path) for path in python_files("core", "models", "metrics", "etl", "ui", "pages")
               if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text())]
    assert readers == ["core/settings.py"]


def test_no_test_reads_the_wall_clock():
    wall_clock = re.compile(r"date\.today\(|datetime\.(now|utcnow|today)\(|time\.time\(")
    readers = [relative(path) for path in python_files("tests") if wall_clock.search(path.read_text())]
    assert readers == []


def test_the_dashboard_names_the_actor_of_every_write():
    """A pipeline call that names no actor acts as the machine's own user, an admin: right for the
    command line and cron, never for the dashboard, whose user may be a viewer (core/access.py)."""
    calls = [
        (relative(path), node.lineno, any(keyword.arg == "actor" for keyword in node.keywords))
        for path in [ROOT / "app.py", *python_files("ui", "pages")]
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name) and node.func.value.id == "pipeline"
        and node.func.attr in ("run", "write", "infer_autopay")
    ]
    assert calls and [call for call in calls if not call[2]] == []
