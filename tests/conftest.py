import re
from datetime import date

import pytest

from core.tokens import TokenStore
from etl import pipeline
from etl.sources import demo
from tests import browser as real_browser
from tests.quickbooks_ledger import running_server
from tests.xero_ledger import running as running_xero

DEMO_AS_OF = date(2026, 11, 25)

# Modules whose single tests run 10-40 s each (pytest --durations): run first, so that the last
# minute of a run on 2 workers is short tests on both rather than one long test on one.
LONG_TESTS_FIRST = ("test_pack.py", "test_browser.py", "test_hostile_names.py", "test_sign_in.py",
                    "test_warmup.py", "test_xero_cli.py", "test_dashboard.py", "test_collections.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.path.name not in LONG_TESTS_FIRST)  # stable: each module stays in order


@pytest.fixture(scope="session", autouse=True)
def product_clock(tmp_path_factory):
    """Time is an input: the whole suite, and every process it starts, takes DEMO_AS_OF as today,
    whatever the machine's clock says. A test that needs another day sets LEDGERLIGHT_TODAY itself.
    Nor does any test read the developer's own .streamlit/secrets.toml (a sign-in set up there
    would lock the tests out): the secrets files are one that does not exist, unless a test
    writes its own (STREAMLIT_SECRETS_FILES, which Streamlit and core/settings.py both read).
    The dashboard's background warm-up is off unless a test turns it on."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LEDGERLIGHT_TODAY", DEMO_AS_OF.isoformat())
        patch.setenv("LEDGERLIGHT_WARM_UP", "off")  # no test's page shares the cores with a warm-up
        patch.setenv("STREAMLIT_SECRETS_FILES", str(tmp_path_factory.mktemp("secrets") / "none.toml"))
        yield DEMO_AS_OF


def build_demo(path, as_of=DEMO_AS_OF, **options):
    """The demo company written through the real pipeline into the DuckDB file at `path`."""
    return pipeline.run(path, demo.SOURCE, demo.DemoSettings(as_of, **options))


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory):
    """The default demo company as of DEMO_AS_OF, built once for the whole run."""
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build_demo(path)
    return path


@pytest.fixture
def server(monkeypatch):
    """The QuickBooks look-alike on 127.0.0.1 serving tests/quickbooks_ledger.py's ledger."""
    yield from running_server(monkeypatch, acme_invoices=24)


@pytest.fixture
def big_server(monkeypatch):
    """The same ledger with 2,520 Acme invoices: three pages of 1,000."""
    yield from running_server(monkeypatch, acme_invoices=2520)


@pytest.fixture
def xero_server(monkeypatch):
    """The Xero look-alike on 127.0.0.1 serving tests/xero_ledger.py's two organisations."""
    yield from running_xero(monkeypatch)


@pytest.fixture
def store(tmp_path):
    return TokenStore(tmp_path / "tokens")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (tests/browser.py), one per test module."""
    real_browser.skip_without_chromium()
    with real_browser.chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def tab(browser):
    """One tab for a module's pages: a page loaded again in the same tab costs Chromium about a
    third of a new tab's work (Streamlit's scripts are compiled already). Each test sets its own
    viewport and colour scheme (tests/browser.py: in_tab)."""
    page = browser.new_page(accept_downloads=True)
    yield page
    page.close()


def shown(element) -> str:
    """What a person reads in an AppTest markdown element: its text without the backslashes
    that keep names and messages from being read as markdown (ui.format.plain)."""
    return re.sub(r"\\(.)", r"\1", str(element.value))


def client_names(links) -> list[str]:
    """The names a table's client link column shows (tables.client_link: client?name=…&client=…)."""
    from urllib.parse import parse_qs, urlsplit

    return [parse_qs(urlsplit(link).query)["name"][0] for link in links]
