"""The SQL every metric reads: one model per `.sql` file, named for what it returns, layered like
dbt's: `base/` applies the rules to the canonical tables (posted, due dates), `as_of/` holds the
canonical as-of models (open invoices, credits, settlements, autopay status at each date),
`marts/` what each metric returns, `checks/` what the pipeline refuses to load.

A model is a Jinja template of one SELECT. `{{ ref('open_invoices') }}` inlines another model as
a subquery; `macros.sql` holds the business rules every model shares (home-currency conversion,
the autopay grace days). Template variables only shape a query (bucket columns, periods), always
from code; values a user chooses are DuckDB parameters (`$basis`). Every as-of model is evaluated
at `$dates`, a list of dates, and names each row's date `as_of`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import duckdb
import jinja2
import pandas as pd

from core.db import query_frame

ROOT = Path(__file__).resolve().parent
MACROS = "macros.sql"


def _index() -> dict[str, str]:
    files: dict[str, str] = {}
    for path in sorted(ROOT.rglob("*.sql")):
        if path.name == MACROS:
            continue
        relative = path.relative_to(ROOT).as_posix()
        if path.stem in files:
            raise RuntimeError(f"two models are named {path.stem!r}: {files[path.stem]} and {relative}")
        files[path.stem] = relative
    return files


FILES = _index()
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(ROOT), undefined=jinja2.StrictUndefined, autoescape=False,
    trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
)


def _frozen(value):
    return tuple(value) if isinstance(value, list) else value


@lru_cache(maxsize=None)
def _compile(name: str, variables: tuple) -> str:
    if name not in FILES:
        raise KeyError(f"no model named {name!r} (models: {', '.join(sorted(FILES))})")
    return _ENV.get_template(FILES[name]).render(dict(variables)).strip()


def sql(name: str, **variables) -> str:
    """The model's SQL with every `ref` inlined."""
    return _compile(name, tuple(sorted((key, _frozen(value)) for key, value in variables.items())))


def _ref(name: str, **variables) -> str:
    return "(\n" + sql(name, **variables) + "\n)"


_ENV.globals["ref"] = _ref
_ENV.globals.update(
    {key: value for key, value in _ENV.get_template(MACROS).module.__dict__.items() if not key.startswith("_")}
)


def frame(con: duckdb.DuckDBPyConnection, name: str, params: dict | None = None, **variables) -> pd.DataFrame:
    """Run a model into a DataFrame, DECIMAL kept as decimal.Decimal."""
    return query_frame(con, sql(name, **variables), params)


def rows(con: duckdb.DuckDBPyConnection, name: str, params: dict | None = None, **variables) -> list[tuple]:
    """Run a model and fetch its rows as tuples."""
    return con.execute(sql(name, **variables), params or {}).fetchall()
