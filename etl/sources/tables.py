"""Source: canonical tables made elsewhere, ready to load (the test suite's hand-made books, the
benchmark's generated ones). Not registered: nobody's accounting system, only a way to write
rows named like the canonical tables through the one pipeline.

Each load replaces the company's books whole. Autopay periods carry their own `origin` (the
writer they stand for: a roster, the inference, a person); one without it gets the writer its
provenance implies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from etl.batch import BOOK_ENTITIES, Batch, Company, Entity, Progress, Source, SourceState

ORIGIN_OF = {"imported": "autopay_roster", "inferred": "inference", "manual": "manual"}


@dataclass(frozen=True)
class Tables:
    company: Company
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    kind: str = "test"


def fetch(settings: Tables, state: SourceState, progress: Progress) -> Batch:
    tables = dict(settings.tables)
    enrollments = tables.get("autopay_enrollments")
    if enrollments is not None and "origin" not in enrollments:
        tables["autopay_enrollments"] = enrollments.assign(origin=enrollments["provenance"].map(ORIGIN_OF))
    return Batch(settings.company, kind=settings.kind, complete=True, rows=tables)


SOURCE = Source(
    name="tables",
    label="ready-made tables",
    entities=(*BOOK_ENTITIES, Entity("autopay_enrollments", ("customer_id", "origin", "valid_from"))),
    company=lambda settings, companies: settings.company,
    fetch=fetch,
)
