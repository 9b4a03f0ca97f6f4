"""Match a channel's statement against our payments with joins, giving every line and payment one class."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from zhifu.channels.statement_frame import STATEMENT_SCHEMA, lines_to_frame
from zhifu.core.business_day import CUTOFF_HOUR
from zhifu.core.errors import InvalidRequest

__all__ = ["CLASSES", "PAYMENT_COLUMNS", "MatchResult", "business_date_expr", "lines_to_frame", "match"]

MATCHED = "matched"
MISSING_OURS = "missing_ours"  # on the channel's file, not in our book
MISSING_CHANNEL = "missing_channel"  # we succeeded, the channel never booked it within pending_days
PENDING_CROSS_DAY = "pending_cross_day"  # we succeeded, not on this file yet; a later file may carry it
AMOUNT_MISMATCH = "amount_mismatch"
STATUS_OURS_SUCCEEDED = "status_mismatch_ours_succeeded"  # the channel says failed
STATUS_CHANNEL_SUCCEEDED = (
    "status_mismatch_channel_succeeded"  # ours processing/failed: a channel query fixes it
)
FEE_MISMATCH = "fee_mismatch"
DUPLICATE = "duplicate"  # a further line with a channel_ref already seen in the file
CROSS_DAY = "cross_day"  # matched, but booked on another business date than ours
REFUND_MISMATCH = "refund_mismatch"  # a refund with another amount, or on one side only
NO_MOVEMENT = "no_movement"  # ours did not succeed and the channel has no line: nothing to reconcile
CLASSES: tuple[str, ...] = (
    MATCHED,
    MISSING_OURS,
    MISSING_CHANNEL,
    PENDING_CROSS_DAY,
    AMOUNT_MISMATCH,
    STATUS_OURS_SUCCEEDED,
    STATUS_CHANNEL_SUCCEEDED,
    FEE_MISMATCH,
    DUPLICATE,
    CROSS_DAY,
    REFUND_MISMATCH,
    NO_MOVEMENT,
)
PAYMENT_COLUMNS: dict[str, pl.DataType] = {
    "payment_id": pl.String(),
    "channel_ref": pl.String(),
    "merchant_order_no": pl.String(),
    "merchant_id": pl.String(),
    "created_at": pl.Datetime("us", "UTC"),
    "business_date": pl.Date(),
    "txn_type": pl.String(),
    "amount_fen": pl.Int64(),
    "fee_fen": pl.Int64(),
    "status": pl.String(),
}
_OURS_MOVED = ["succeeded", "refunded", "partially_refunded"]  # money moved for this payment
_LINE_MOVED = ["succeeded", "refunded"]
TIME_TOLERANCE = dt.timedelta(minutes=5)  # our created_at vs the channel's time, for matching without a ref


@dataclass(frozen=True)
class MatchResult:
    """`lines`: statement rows + payment_id + recon_class; `payments`: ours + line_no + recon_class."""

    lines: pl.DataFrame
    payments: pl.DataFrame
    summary: pl.DataFrame  # side ("line" | "payment"), recon_class, count, amount_fen

    def counts(self, side: str = "line") -> dict[str, int]:
        got = dict(self.summary.filter(pl.col("side") == side).select("recon_class", "count").iter_rows())
        return {name: int(got.get(name, 0)) for name in CLASSES}

    def amounts_fen(self, side: str = "line") -> dict[str, int]:
        got = dict(
            self.summary.filter(pl.col("side") == side).select("recon_class", "amount_fen").iter_rows()
        )
        return {name: int(got.get(name, 0)) for name in CLASSES}


def business_date_expr(column: str) -> pl.Expr:
    """Business date of a UTC instant column: Beijing date, rolled forward from the 23:00 cut-off."""
    return pl.col(column).dt.convert_time_zone("Asia/Shanghai").dt.offset_by(f"{24 - CUTOFF_HOUR}h").dt.date()


def _require(frame: pl.DataFrame, schema: dict[str, pl.DataType], what: str) -> pl.DataFrame:
    missing = [name for name in schema if name not in frame.columns]
    if missing:
        raise InvalidRequest(f"{what} frame lacks columns {missing}", param=what)
    return frame.select(list(schema)).cast(pl.Schema(schema))


def _ref_pairs(lines: pl.DataFrame, pays: pl.DataFrame) -> pl.DataFrame:
    """Pass 1: the channel's own id on both sides; the first payment wins if ours repeats an id."""
    left = lines.filter(~pl.col("_dup") & pl.col("channel_ref").is_not_null()).select("_li", "channel_ref")
    right = pays.filter(pl.col("channel_ref").is_not_null()).select("_pi", "channel_ref")
    return (
        left.join(right, on="channel_ref", how="inner")
        .group_by("_li")
        .agg(pl.col("_pi").min())
        .select("_li", "_pi")
    )


def _order_pairs(
    lines: pl.DataFrame, pays: pl.DataFrame, first: pl.DataFrame, tolerance: dt.timedelta
) -> pl.DataFrame:
    """Pass 2: ours without a channel id, by order number, type, amount and the nearest time in tolerance."""
    left = lines.filter(~pl.col("_dup")).join(first, on="_li", how="anti")
    left = left.select("_li", "merchant_order_no", "txn_type", "amount_fen", "txn_time")
    right = pays.filter(pl.col("channel_ref").is_null()).join(first, on="_pi", how="anti")
    right = right.select("_pi", "merchant_order_no", "txn_type", "amount_fen", "created_at")
    return (
        left.join(right, on=["merchant_order_no", "txn_type", "amount_fen"], how="inner")
        .with_columns((pl.col("txn_time") - pl.col("created_at")).abs().alias("_gap"))
        .filter(pl.col("_gap") <= tolerance)
        .sort("_gap", "_li", "_pi")
        .unique("_li", keep="first", maintain_order=True)
        .unique("_pi", keep="first", maintain_order=True)
        .select("_li", "_pi")
    )


def _classify_pairs(
    pairs: pl.DataFrame, lines: pl.DataFrame, pays: pl.DataFrame, day: dt.date
) -> pl.DataFrame:
    # _li and _pi are row numbers, so each side's attributes are gathered rather than joined
    line_side = lines.select("line_no", "txn_type", "amount_fen", "fee_fen", "status", "_line_bd")[
        pairs["_li"]
    ]
    pay_side = pays.select(
        "payment_id",
        pl.col("txn_type").alias("_p_type"),
        pl.col("amount_fen").alias("_p_amount"),
        pl.col("fee_fen").alias("_p_fee"),
        pl.col("status").alias("_p_status"),
        pl.col("business_date").alias("_p_bd"),
    )[pairs["_pi"]]
    pair = pl.concat([pairs, line_side, pay_side], how="horizontal")
    ours_moved = pl.col("_p_status").is_in(_OURS_MOVED)
    line_moved = pl.col("status").is_in(_LINE_MOVED)
    refund = (pl.col("txn_type") == "refund") | (pl.col("_p_type") == "refund")
    recon_class = (
        pl.when(ours_moved & ~line_moved)
        .then(pl.lit(STATUS_OURS_SUCCEEDED))
        .when(~ours_moved & line_moved)
        .then(pl.lit(STATUS_CHANNEL_SUCCEEDED))
        .when(
            refund
            & ((pl.col("txn_type") != pl.col("_p_type")) | (pl.col("amount_fen") != pl.col("_p_amount")))
        )
        .then(pl.lit(REFUND_MISMATCH))
        .when(pl.col("amount_fen") != pl.col("_p_amount"))
        .then(pl.lit(AMOUNT_MISMATCH))
        .when(pl.col("_p_fee").is_not_null() & (pl.col("fee_fen") != pl.col("_p_fee")))
        .then(pl.lit(FEE_MISMATCH))
        .when((pl.col("_p_bd") != day) | (pl.col("_line_bd") != pl.col("_p_bd")))
        .then(pl.lit(CROSS_DAY))
        .otherwise(pl.lit(MATCHED))
    )
    return pair.select("_li", "_pi", "line_no", "payment_id", recon_class.alias("recon_class"))


def match(
    payments: pl.DataFrame,
    statement: pl.DataFrame,
    *,
    business_date: dt.date,
    pending_days: int = 1,
    time_tolerance: dt.timedelta = TIME_TOLERANCE,
) -> MatchResult:
    """Classify every line of `statement` (the channel's file for `business_date`) and every payment.

    `payments` holds this channel's payments under reconciliation (PAYMENT_COLUMNS). An unmatched
    succeeded payment is pending_cross_day while business_date − its business date < pending_days.
    """
    if pending_days < 0:
        raise InvalidRequest("pending_days must not be negative", param="pending_days")
    lines = _require(statement, STATEMENT_SCHEMA, "statement").with_row_index("_li")
    pays = _require(payments, PAYMENT_COLUMNS, "payments").with_row_index("_pi")
    lines = lines.with_columns(
        (pl.col("channel_ref").is_not_null() & ~pl.col("channel_ref").is_first_distinct()).alias("_dup"),
        business_date_expr("txn_time").alias("_line_bd"),
    )
    first = _ref_pairs(lines, pays)
    pairs = pl.concat([first, _order_pairs(lines, pays, first, time_tolerance)])
    pair = _classify_pairs(pairs, lines, pays, business_date)

    lines_out = lines.join(
        pair.select("_li", "payment_id", "recon_class"), on="_li", how="left", maintain_order="left"
    )
    dup_refs = lines_out.filter(pl.col("_dup"))["channel_ref"].unique()
    first_pid = lines_out.filter(~pl.col("_dup") & pl.col("channel_ref").is_in(dup_refs.implode())).select(
        "channel_ref", pl.col("payment_id").alias("_first_pid")
    )
    lines_out = (
        lines_out.join(first_pid, on="channel_ref", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("_dup"))
            .then(pl.col("_first_pid"))
            .otherwise(pl.col("payment_id"))
            .alias("payment_id"),
            pl.when(pl.col("_dup"))
            .then(pl.lit(DUPLICATE))
            .when(pl.col("recon_class").is_not_null())
            .then(pl.col("recon_class"))
            .when(pl.col("txn_type") == "refund")
            .then(pl.lit(REFUND_MISMATCH))
            .otherwise(pl.lit(MISSING_OURS))
            .alias("recon_class"),
        )
        .select(*STATEMENT_SCHEMA, "payment_id", "recon_class")
    )

    age_days = (pl.lit(business_date) - pl.col("business_date")).dt.total_days()
    unmatched = (
        pl.when(~pl.col("status").is_in(_OURS_MOVED))
        .then(pl.lit(NO_MOVEMENT))
        .when(age_days < pending_days)
        .then(pl.lit(PENDING_CROSS_DAY))
        .when(pl.col("txn_type") == "refund")
        .then(pl.lit(REFUND_MISMATCH))
        .otherwise(pl.lit(MISSING_CHANNEL))
    )
    pays_out = (
        pays.join(pair.select("_pi", "line_no", "recon_class"), on="_pi", how="left", maintain_order="left")
        .with_columns(pl.coalesce(pl.col("recon_class"), unmatched).alias("recon_class"))
        .select(*PAYMENT_COLUMNS, "line_no", "recon_class")
    )
    summary = pl.concat(
        [
            frame.group_by("recon_class")
            .agg(pl.len().cast(pl.Int64).alias("count"), pl.col("amount_fen").sum())
            .select(pl.lit(side).alias("side"), "recon_class", "count", "amount_fen")
            for side, frame in (("line", lines_out), ("payment", pays_out))
        ]
    ).sort("side", "recon_class")
    return MatchResult(lines=lines_out, payments=pays_out, summary=summary)
