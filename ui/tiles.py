"""Rows of figure tiles. At most four to a row, so an amount to the cent is never cut short at
1440 px with the sidebar open; on a phone Streamlit stacks them."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

PER_ROW = 4


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    help: str | None = None
    delta: str | None = None
    delta_color: str = "normal"  # "inverse" where a rise is bad (overdue money, DSO)


def show(tiles: list[Tile], per_row: int = PER_ROW) -> None:
    for start in range(0, len(tiles), per_row):
        row = tiles[start:start + per_row]
        for column, tile in zip(st.columns(per_row), row):
            column.metric(tile.label, tile.value, delta=tile.delta, delta_color=tile.delta_color, help=tile.help)
