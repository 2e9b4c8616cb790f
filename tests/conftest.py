from datetime import date

import pytest

from etl.demo import build_demo_database

DEMO_AS_OF = date(2026, 11, 25)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory):
    """The default demo company as of DEMO_AS_OF, built once for the whole run."""
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build_demo_database(path, as_of=DEMO_AS_OF)
    return path
