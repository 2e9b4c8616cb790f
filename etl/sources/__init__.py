"""The registry of sources. Each is one module (or package) that only fetches and maps, and
declares a `SOURCE` (etl/batch.py); the pipeline writes what it returns. A new source is one
module and one line here: the CLI (`sync`, `connect`, `import`) and the Data & sync page list
what they offer from this registry.
"""

from __future__ import annotations

from core.errors import InputError
from etl.batch import Source
from etl.sources import autopay_roster, demo, files, highradius_sample, ibm_sample, quickbooks, xero

SOURCES: dict[str, Source] = {
    source.name: source
    for source in (quickbooks.SOURCE, xero.SOURCE, autopay_roster.SOURCE, demo.SOURCE, ibm_sample.SOURCE,
                   highradius_sample.SOURCE, files.SOURCE)
}


def connectable() -> dict[str, Source]:
    """Sources a user signs in to, which `connect` and `sync` offer."""
    return {name: source for name, source in SOURCES.items() if source.connector is not None}


def importable() -> dict[str, Source]:
    """Sources that read a file, by the kind `python -m etl import KIND FILE` names them."""
    return {source.importer.kind: source for source in SOURCES.values() if source.importer}


def get(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise InputError(f"no source named {name!r}: use one of {', '.join(SOURCES)}") from None
