"""Autopay: who is on it at a date (imported rosters win over manual entries over inferences)."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from etl.db import query_frame
from etl.models import AUTOPAY_STATUS


def autopay_status_as_of(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """One row per customer with an enrollment period covering `as_of`: on_autopay, method,
    provenance ('imported', 'manual', 'inferred') and since (start of that period)."""
    return query_frame(con, f"{AUTOPAY_STATUS} ORDER BY ALL", {"as_of": as_of})
