"""Statement lines as a polars frame: the column schema matching works on."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from zhifu.channels.statement import StatementLine

STATEMENT_SCHEMA: dict[str, pl.DataType] = {
    "channel": pl.String(),
    "line_no": pl.Int64(),
    "channel_ref": pl.String(),
    "merchant_order_no": pl.String(),
    "merchant_code": pl.String(),
    "txn_time": pl.Datetime("us", "UTC"),
    "txn_type": pl.String(),
    "amount_fen": pl.Int64(),
    "fee_fen": pl.Int64(),
    "status": pl.String(),
    "original_ref": pl.String(),
    "card_type": pl.String(),
}


def lines_to_frame(lines: Iterable[StatementLine]) -> pl.DataFrame:
    """Columns of STATEMENT_SCHEMA, one row per line; `extra` stays with the objects."""
    cols: dict[str, list[object]] = {name: [] for name in STATEMENT_SCHEMA}
    for line in lines:
        for name, values in cols.items():
            values.append(getattr(line, name))
    return pl.DataFrame(cols, schema=STATEMENT_SCHEMA)


def empty_statement_frame() -> pl.DataFrame:
    return pl.DataFrame(schema=STATEMENT_SCHEMA)
