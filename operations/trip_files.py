"""The TLC trip-file reader lives in the core, :mod:`taxifraud.trip_files`, so that training (``export``) and
the operations commands read files by one set of rules; this name is kept for the operations code that
imports it from here."""

from taxifraud.trip_files import (
    ColumnMap,
    TripFileError,
    arrow_cell,
    map_columns,
    read_columns,
    read_trips,
    records_in_chunks,
    text_cell,
)

__all__ = [
    "ColumnMap",
    "TripFileError",
    "arrow_cell",
    "map_columns",
    "read_columns",
    "read_trips",
    "records_in_chunks",
    "text_cell",
]
