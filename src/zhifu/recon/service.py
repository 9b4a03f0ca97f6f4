"""Reconciliation use cases: import statement files, run a channel-day (payments ↔ file ↔ ledger), the pending
pool, automatic fixes by channel query, exception cases with maker/checker resolution, and reports."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Connection, and_, func, insert, or_, select, update

from zhifu import audit, incentives, ledger
from zhifu.channels import ChannelResult, facts, merchant_code
from zhifu.channels.statement import window
from zhifu.core import clock
from zhifu.core.business_day import business_date as business_date_of
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound, PermissionDenied
from zhifu.core.ids import new_id_fast
from zhifu.core.paging import PAGE_MAX
from zhifu.db.batching import in_chunks
from zhifu.ledger.read import entries_view as entries
from zhifu.ledger.read import postings_view as postings
from zhifu.merchants.read import merchants_view as merchants
from zhifu.payments import receivable_account, record_rail_answer
from zhifu.payments.read import payments_view as payments
from zhifu.payments.read import refunds_view as refunds
from zhifu.recon.formats import (
    STATEMENT_SCHEMA,
    StatementFormatError,
    StatementLine,
    file_sha256,
    format_of,
    parse_payout_results,
    parse_statement,
)
from zhifu.recon.matching import CLASSES, PAYMENT_COLUMNS, match
from zhifu.recon.models import (
    batches,
    case_events,
    cases,
    item_results,
    line_results,
    payout_lines,
    pending,
    statement_files,
    statement_lines,
)

ACTOR_MAX = 64
IMPORT_BYTES_MAX = 512 * 1024 * 1024  # a county's channel-day is a few MB; anything near this is a wrong file
MOVED = frozenset({"succeeded"})  # our statuses in which money moved
LINE_MOVED = frozenset({"succeeded", "refunded"})

ACTIONS = ("refund_payer", "credit_merchant", "write_off_suspense", "accept_channel_record", "accept_ours")
SUGGESTED = {
    "missing_ours": "credit_merchant",
    "missing_channel": "write_off_suspense",
    "amount_mismatch": "write_off_suspense",
    "status_mismatch_ours_succeeded": "accept_channel_record",
    "status_mismatch_channel_succeeded": "refund_payer",
    "fee_mismatch": "accept_channel_record",
    "duplicate": "refund_payer",
    "refund_mismatch": "write_off_suspense",
    "ledger_mismatch": "accept_channel_record",
}
CASE_KINDS = tuple(SUGGESTED)
# Matched classes whose item must have its ledger entry of the channel's amount.
_LEDGER_CHECKED = frozenset({"matched", "cross_day", "fee_mismatch"})


class ReconSettings(BaseSettings):
    """ZHIFU_RECON_PENDING_DAYS: days a payment the channel has not booked waits before it is a discrepancy."""

    model_config = SettingsConfigDict(env_prefix="ZHIFU_RECON_", extra="ignore")
    pending_days: int = 1


def default_pending_days() -> int:
    return ReconSettings().pending_days


def _actor(value: str, param: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > ACTOR_MAX:
        raise InvalidRequest(
            f"{param} must name a user or operator key id (1–{ACTOR_MAX} characters)", param=param
        )
    return value


# ---------------------------------------------------------------- import


def _file_public(row: Any) -> dict[str, Any]:
    return {
        "object": "recon.file",
        "sha256": row.sha256,
        "kind": row.kind,
        "channel": row.channel,
        "business_date": row.business_date.isoformat(),
        "format": row.format,
        "filename": row.filename,
        "size_bytes": row.size_bytes,
        "line_count": row.line_count,
        "amount_fen": row.amount_fen,
        "imported_by": row.imported_by,
        "imported_at": row.imported_at,
    }


def _file_id(kind: str, channel: str, day: dt.date, sha: str) -> str:
    return hashlib.sha256(f"{kind}|{channel}|{day.isoformat()}|{sha}".encode()).hexdigest()


def _check_new_file(
    conn: Connection, sha: str, kind: str, channel: str, day: dt.date
) -> dict[str, Any] | None:
    """The same bytes for the same channel-day again: the stored file. Another file for that day: refused."""
    for seen in conn.execute(
        select(statement_files).where(
            and_(
                statement_files.c.sha256 == sha,
                statement_files.c.kind == kind,
                statement_files.c.channel == channel,
            )
        )
    ):
        if seen.business_date == day:
            return {**_file_public(seen), "imported": False, "duplicate": True}
        if seen.line_count:  # an empty day's file is the same bytes on every date; any other is not
            raise ConflictError(
                f"this file was already imported as the {channel} file for {seen.business_date}",
                param="file",
                code="statement_already_imported",
            )
    other = conn.execute(
        select(statement_files.c.sha256).where(
            and_(
                statement_files.c.kind == kind,
                statement_files.c.channel == channel,
                statement_files.c.business_date == day,
            )
        )
    ).first()
    if other is not None:
        raise ConflictError(
            f"another {channel} file for {day} is already imported (sha256 {other.sha256[:12]}…); "
            "a channel-day has one file",
            param="file",
            code="statement_already_imported",
        )
    return None


_TIME_FIELD = {"zm": "trans_time", "wechat": "交易时间", "alipay": "完成时间"}


def _check_file_date(lines: Sequence[StatementLine], fmt: str, day: dt.date) -> None:
    """A file for D carries D's transactions and may carry late ones of D-1 (cross-day); a file whose every line
    belongs to an earlier date is another date's file."""
    if lines and all(business_date_of(x.txn_time) < day for x in lines):
        first = lines[0]
        raise StatementFormatError(
            f"every line belongs to {business_date_of(first.txn_time)} or before: this is "
            f"not the file for {day}",
            line_no=first.line_no,
            field=_TIME_FIELD[fmt],
        )


def import_statement(
    conn: Connection,
    channel: str,
    business_date: dt.date,
    data: bytes,
    *,
    filename: str = "",
    by: str = "",
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Parse a channel's file strictly and store it with its lines; the same bytes twice are recognised and skipped.

    A malformed file, an unknown channel or a file of another date is refused whole (StatementFormatError naming
    line and field) and nothing is written.
    """
    at = at or clock.now()
    fmt = format_of(channel)
    if len(data) > IMPORT_BYTES_MAX:
        raise StatementFormatError(f"file is larger than {IMPORT_BYTES_MAX} bytes", field="file")
    sha = file_sha256(data)
    dup = _check_new_file(conn, sha, "statement", channel, business_date)
    if dup is not None:
        return dup
    lines = parse_statement(channel, data, business_date)
    _check_file_date(lines, fmt, business_date)
    file_id = _file_id("statement", channel, business_date, sha)
    row = {
        "id": file_id,
        "sha256": sha,
        "kind": "statement",
        "channel": channel,
        "business_date": business_date,
        "format": fmt,
        "filename": filename[-255:],
        "size_bytes": len(data),
        "line_count": len(lines),
        "amount_fen": sum(x.amount_fen if x.txn_type == "payment" else -x.amount_fen for x in lines),
        "imported_by": by[:ACTOR_MAX],
        "imported_at": at,
    }
    conn.execute(insert(statement_files), [row])
    rows = [
        {
            "file_id": file_id,
            "line_no": x.line_no,
            "channel": channel,
            "business_date": business_date,
            "channel_ref": x.channel_ref,
            "merchant_order_no": x.merchant_order_no,
            "merchant_code": x.merchant_code,
            "txn_time": x.txn_time,
            "txn_type": x.txn_type,
            "amount_fen": x.amount_fen,
            "fee_fen": x.fee_fen,
            "status": x.status,
            "original_ref": x.original_ref,
            "card_type": x.card_type,
        }
        for x in lines
    ]
    for i in range(0, len(rows), 5_000):
        conn.execute(insert(statement_lines), rows[i : i + 5_000])
    got = conn.execute(select(statement_files).where(statement_files.c.id == file_id)).one()
    return {**_file_public(got), "imported": True, "duplicate": False}


def import_payout_results(
    conn: Connection,
    business_date: dt.date,
    data: bytes,
    *,
    filename: str = "",
    by: str = "",
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Store the bank's payout result file (strict, TOTAL line checked); the same bytes twice are skipped."""
    at = at or clock.now()
    sha = file_sha256(data)
    dup = _check_new_file(conn, sha, "payout", "bank", business_date)
    if dup is not None:
        return dup
    rows = parse_payout_results(data)
    file_id = _file_id("payout", "bank", business_date, sha)
    conn.execute(
        insert(statement_files),
        [
            {
                "id": file_id,
                "sha256": sha,
                "kind": "payout",
                "channel": "bank",
                "business_date": business_date,
                "format": "payout",
                "filename": filename[-255:],
                "size_bytes": len(data),
                "line_count": len(rows),
                "amount_fen": sum(r.amount_fen for r in rows),
                "imported_by": by[:ACTOR_MAX],
                "imported_at": at,
            }
        ],
    )
    if rows:
        conn.execute(
            insert(payout_lines),
            [
                {
                    "file_id": file_id,
                    "line_no": i + 2,
                    "business_date": business_date,
                    "batch_no": r.batch_no,
                    "payout_id": r.payout_id,
                    "merchant_id": r.merchant_id,
                    "amount_fen": r.amount_fen,
                    "status": r.status,
                    "reason": r.reason,
                    "recon_class": None,
                }
                for i, r in enumerate(rows)
            ],
        )
    got = conn.execute(select(statement_files).where(statement_files.c.id == file_id)).one()
    return {**_file_public(got), "imported": True, "duplicate": False}


# ---------------------------------------------------------------- our side as the matcher's frame


def _statement_frame(conn: Connection, file_id: str) -> pl.DataFrame:
    cols = [statement_lines.c[name] for name in STATEMENT_SCHEMA]
    rows = conn.execute(
        select(*cols).where(statement_lines.c.file_id == file_id).order_by(statement_lines.c.line_no)
    ).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=STATEMENT_SCHEMA, orient="row")


def _payment_row(p: Any) -> dict[str, Any]:
    moved = p.status in MOVED
    at = p.succeeded_at if moved and p.succeeded_at else p.created_at
    return {
        "payment_id": p.id,
        "channel_ref": p.channel_ref,
        "merchant_order_no": p.id,
        "merchant_id": p.merchant_id,
        "created_at": at,
        "business_date": p.business_date if moved and p.business_date else business_date_of(p.created_at),
        "txn_type": "payment",
        "amount_fen": p.amount_fen - p.discount_fen,
        # the rail's fee is what it keeps of the payment: our channel cost, on the amount it collected
        "fee_fen": p.cost_fen if moved else 0,
        "status": p.status,
        "_fee": p.fee_fen,
        "_cost": p.cost_fen if moved else 0,
    }


def _refund_row(r: Any, clawback_fen: int = 0) -> dict[str, Any]:
    """A refund as the rail sees it: what went back to the payer, without a campaign discount's share."""
    moved = r.status == "succeeded"
    return {
        "payment_id": r.id,
        "channel_ref": r.channel_ref,
        "merchant_order_no": r.id,
        "merchant_id": r.merchant_id,
        "created_at": r.updated_at if moved else r.created_at,
        "business_date": r.business_date if moved and r.business_date else business_date_of(r.created_at),
        # the rails keep their cost on a refund, as our book does: no fee comes back
        "txn_type": "refund",
        "amount_fen": r.amount_fen - clawback_fen,
        "fee_fen": 0,
        "status": {"pending": "processing"}.get(r.status, r.status),
        "_fee": r.fee_refunded_fen,
        "_cost": 0,
    }


def _our_items(conn: Connection, channel: str, day: dt.date, stmt: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """Our payments and refunds for the channel-day: booked that day, begun that day without moving money, waiting
    in the pending pool, or named by the file (its channel refs and order numbers)."""
    start, end = window(day)
    waiting = [
        r.item_id
        for r in conn.execute(
            select(pending.c.item_id).where(
                and_(
                    pending.c.channel == channel, pending.c.status == "waiting", pending.c.business_date < day
                )
            )
        )
    ]
    refs = sorted(set(stmt["channel_ref"].to_list()))
    order_nos = sorted(set(stmt["merchant_order_no"].to_list()))
    out: dict[str, dict[str, Any]] = {}
    on_channel = payments.c.channel == channel  # a refund's channel is its payment's

    def filters(t: Any) -> list[Any]:
        """The rows of a payments or refunds view the day's statement may speak of: booked on the day, not
        succeeded but created in its window, or named by the statement (ids, order numbers, rail refs)."""
        where = [
            and_(on_channel, t.c.business_date == day),
            and_(on_channel, t.c.status != "succeeded", t.c.created_at >= start, t.c.created_at < end),
        ]
        where += [and_(on_channel, t.c.id.in_(c)) for c in in_chunks(waiting + order_nos)]
        return where + [and_(on_channel, t.c.channel_ref.in_(c)) for c in in_chunks(refs)]

    for f in filters(payments):
        for p in conn.execute(select(payments).where(f)):
            out[p.id] = _payment_row(p)
    joined = refunds.join(payments, payments.c.id == refunds.c.payment_id)
    found = {
        r.id: r for f in filters(refunds) for r in conn.execute(select(refunds).select_from(joined).where(f))
    }
    clawbacks = incentives.clawbacks_for(conn, list(found))
    for rid, r in found.items():
        out[rid] = _refund_row(r, clawbacks.get(rid, 0))
    return out


def _items_frame(items: dict[str, dict[str, Any]]) -> pl.DataFrame:
    rows = sorted(items.values(), key=lambda r: r["payment_id"])
    return pl.DataFrame([{k: r[k] for k in PAYMENT_COLUMNS} for r in rows], schema=PAYMENT_COLUMNS)


# ---------------------------------------------------------------- the three-way check against the ledger


def _booked(conn: Connection, channel: str, keys: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Entry key -> (debits, credits) on the channel's receivable."""
    acc = receivable_account(channel)
    out: dict[str, tuple[int, int]] = {}
    dr_sum = func.coalesce(func.sum(postings.c.amount_fen).filter(postings.c.side == "D"), 0)
    cr_sum = func.coalesce(func.sum(postings.c.amount_fen).filter(postings.c.side == "C"), 0)
    for chunk in in_chunks(list(keys)):
        q = (
            select(entries.c.idempotency_key, dr_sum, cr_sum)
            .select_from(
                entries.outerjoin(
                    postings, and_(postings.c.entry_id == entries.c.id, postings.c.account_code == acc)
                )
            )
            .where(entries.c.idempotency_key.in_(chunk))
            .group_by(entries.c.idempotency_key)
        )
        for key, d, c in conn.execute(q):
            out[key] = (int(d), int(c))
    return out


def _entry_key(item: dict[str, Any]) -> str:
    if item["txn_type"] == "payment":
        return ledger.keys.payment_success(item["payment_id"])
    return ledger.keys.refund_success(item["payment_id"])


# ---------------------------------------------------------------- run


def _summary(
    lines_out: pl.DataFrame, items_out: list[dict[str, Any]], extra: dict[str, int]
) -> dict[str, Any]:
    def by_class(rows: Iterable[tuple[str, int]]) -> dict[str, dict[str, int]]:
        got: dict[str, dict[str, int]] = {}
        for cls, amount in rows:
            slot = got.setdefault(cls, {"count": 0, "amount_fen": 0})
            slot["count"] += 1
            slot["amount_fen"] += int(amount)
        return {k: got[k] for k in CLASSES if k in got}

    return {
        "lines": by_class(
            zip(lines_out["recon_class"].to_list(), lines_out["amount_fen"].to_list(), strict=True)
        ),
        "items": by_class((r["recon_class"], r["amount_fen"]) for r in items_out),
        **extra,
    }


def _files(conn: Connection, business_date: dt.date, channel: str | None) -> list[Any]:
    q = select(statement_files).where(
        and_(statement_files.c.kind == "statement", statement_files.c.business_date == business_date)
    )
    if channel is not None:
        facts(channel)
        q = q.where(statement_files.c.channel == channel)
    return list(conn.execute(q.order_by(statement_files.c.channel)).all())


def paid_at_rail_only(
    conn: Connection, business_date: dt.date, *, channel: str | None = None
) -> list[tuple[str, str, str]]:
    """Payments of not-yet-reconciled files that the rail shows paid and we do not: (payment id, channel) to ask the
    rail about before reconciling (no network call inside the reconciling transaction)."""
    out: list[tuple[str, str, str]] = []
    days = default_pending_days()
    for f in _files(conn, business_date, channel):
        if conn.execute(
            select(batches.c.id).where(
                and_(batches.c.channel == f.channel, batches.c.business_date == business_date)
            )
        ).first():
            continue
        stmt = _statement_frame(conn, f.id)
        result = match(
            _items_frame(_our_items(conn, f.channel, business_date, stmt)),
            stmt,
            business_date=business_date,
            pending_days=days,
        )
        out.extend(
            (r["payment_id"], f.channel, r["merchant_id"])
            for r in result.payments.iter_rows(named=True)
            if r["recon_class"] == "status_mismatch_channel_succeeded" and r["txn_type"] == "payment"
        )
    return out


def run(
    conn: Connection,
    business_date: dt.date,
    *,
    channel: str | None = None,
    pending_days: int | None = None,
    by: str = "",
    at: dt.datetime | None = None,
    answers: Mapping[str, ChannelResult] | None = None,
) -> list[dict[str, Any]]:
    """Reconcile every channel with a file for the date (or one channel). A channel-day already reconciled is
    returned as it stands: re-runs change nothing. `answers` are the rails' answers about payments they show paid
    and we do not, asked before this transaction (recon.statements.reconcile does)."""
    at = at or clock.now()
    days = default_pending_days() if pending_days is None else pending_days
    if days < 0:
        raise InvalidRequest("pending_days must not be negative", param="pending_days")
    files = _files(conn, business_date, channel)
    if channel is not None and not files:
        raise NotFound(
            f"no {channel} statement imported for {business_date}; import it first",
            param="channel",
            code="statement_missing",
        )
    out = []
    for f in files:
        done = conn.execute(
            select(batches).where(
                and_(batches.c.channel == f.channel, batches.c.business_date == business_date)
            )
        ).first()
        if done is None:
            batch_id = _run_one(conn, f.channel, business_date, f.id, days, by, at, answers or {})
            out.append({**get_batch(conn, batch_id), "rerun": False})
        else:
            out.append({**get_batch(conn, done.id), "rerun": True})
    return out


def _run_one(
    conn: Connection,
    channel: str,
    day: dt.date,
    file_id: str,
    pending_days: int,
    by: str,
    at: dt.datetime,
    answers: Mapping[str, ChannelResult],
) -> str:
    stmt = _statement_frame(conn, file_id)
    items = _our_items(conn, channel, day, stmt)
    result = match(_items_frame(items), stmt, business_date=day, pending_days=pending_days)
    batch_id = new_id_fast("rcb", int(at.timestamp() * 1000))
    line_by_no = {r["line_no"]: r for r in stmt.iter_rows(named=True)}
    items_out: list[dict[str, Any]] = []
    auto = 0
    for r in result.payments.iter_rows(named=True):
        row = {
            "batch_id": batch_id,
            "item_id": r["payment_id"],
            "txn_type": r["txn_type"],
            "merchant_id": r["merchant_id"],
            "line_no": r["line_no"],
            "status": r["status"],
            "amount_fen": r["amount_fen"],
            "recon_class": r["recon_class"],
            "resolution": None,
            "ledger_check": None,
        }
        if r["recon_class"] == "status_mismatch_channel_succeeded" and r["txn_type"] == "payment":
            answer = answers.get(r["payment_id"])
            if (
                answer is not None
                and answer.status == "succeeded"
                and record_rail_answer(conn, r["payment_id"], answer, at) == "succeeded"
            ):
                row["resolution"] = "auto_resolved"
                items[r["payment_id"]] = _payment_row(
                    conn.execute(select(payments).where(payments.c.id == r["payment_id"])).one()
                )
                auto += 1
        items_out.append(row)

    checked = [row for row in items_out if row["recon_class"] in _LEDGER_CHECKED or row["resolution"]]
    booked = _booked(conn, channel, [_entry_key(items[row["item_id"]]) for row in checked])
    ledger_bad = 0
    for row in checked:  # the receivable an entry books is what the channel collected, less our channel cost
        line = line_by_no.get(row["line_no"])
        want = (line["amount_fen"] if line is not None else row["amount_fen"]) - items[row["item_id"]][
            "_cost"
        ]
        got = booked.get(_entry_key(items[row["item_id"]]))
        d, c = got if got is not None else (0, 0)
        have = d - c if row["txn_type"] == "payment" else c - d
        row["ledger_check"] = (
            "ok" if got is not None and have == want else ("missing" if got is None else "amount_mismatch")
        )
        ledger_bad += row["ledger_check"] != "ok"

    conn.execute(
        insert(batches),
        [
            {
                "id": batch_id,
                "channel": channel,
                "business_date": day,
                "file_id": file_id,
                "pending_days": pending_days,
                "run_by": by[:ACTOR_MAX],
                "summary": {},
                "created_at": at,
            }
        ],
    )
    _update_pool(conn, channel, day, batch_id, items_out, at)
    opened = _open_cases(conn, channel, day, batch_id, result.lines, items_out, items, line_by_no, booked, at)
    summary = _summary(
        result.lines,
        items_out,
        {"auto_resolved": auto, "ledger_discrepancies": ledger_bad, "cases_opened": opened},
    )
    conn.execute(update(batches).where(batches.c.id == batch_id).values(summary=summary))
    line_rows = [
        {
            "batch_id": batch_id,
            "line_no": r["line_no"],
            "item_id": r["payment_id"],
            "txn_type": r["txn_type"],
            "channel_ref": r["channel_ref"],
            "amount_fen": r["amount_fen"],
            "recon_class": r["recon_class"],
        }
        for r in result.lines.iter_rows(named=True)
    ]
    for i in range(0, len(line_rows), 5_000):
        conn.execute(insert(line_results), line_rows[i : i + 5_000])
    for i in range(0, len(items_out), 5_000):
        conn.execute(insert(item_results), items_out[i : i + 5_000])
    return batch_id


def _update_pool(
    conn: Connection,
    channel: str,
    day: dt.date,
    batch_id: str,
    items_out: list[dict[str, Any]],
    at: dt.datetime,
) -> None:
    waiting = {
        r.item_id
        for r in conn.execute(
            select(pending.c.item_id).where(and_(pending.c.channel == channel, pending.c.status == "waiting"))
        )
    }
    for row in items_out:
        iid, cls = row["item_id"], row["recon_class"]
        if cls == "pending_cross_day":
            row["resolution"] = "pending"
            if iid not in waiting:
                conn.execute(
                    insert(pending),
                    [
                        {
                            "channel": channel,
                            "item_id": iid,
                            "txn_type": row["txn_type"],
                            "merchant_id": row["merchant_id"],
                            "business_date": day,
                            "amount_fen": row["amount_fen"],
                            "status": "waiting",
                            "first_batch_id": batch_id,
                            "closed_batch_id": None,
                            "created_at": at,
                            "updated_at": at,
                        }
                    ],
                )
        elif iid in waiting:
            status = "expired" if row["line_no"] is None else "matched"
            conn.execute(
                update(pending)
                .where(and_(pending.c.channel == channel, pending.c.item_id == iid))
                .values(status=status, closed_batch_id=batch_id, updated_at=at)
            )


# ---------------------------------------------------------------- exception cases


def _merchant_codes(conn: Connection) -> dict[str, str]:
    return {merchant_code(mid): mid for (mid,) in conn.execute(select(merchants.c.id))}


def _open_cases(
    conn: Connection,
    channel: str,
    day: dt.date,
    batch_id: str,
    lines_out: pl.DataFrame,
    items_out: list[dict[str, Any]],
    items: dict[str, dict[str, Any]],
    line_by_no: dict[int, Any],
    booked: dict[str, tuple[int, int]],
    at: dt.datetime,
) -> int:
    new: list[dict[str, Any]] = []

    def sign(txn_type: str) -> int:  # a refund lowers what the channel owes us
        return 1 if txn_type == "payment" else -1

    codes: dict[str, str] | None = None
    for r in lines_out.iter_rows(named=True):  # lines with no payment of ours behind them
        cls = r["recon_class"]
        if not (
            cls in ("missing_ours", "duplicate") or (cls == "refund_mismatch" and r["payment_id"] is None)
        ):
            continue
        if r["status"] not in LINE_MOVED:
            continue
        if codes is None:
            codes = _merchant_codes(conn)
        mid = codes.get(r["merchant_code"])
        if cls == "duplicate" and r["payment_id"] in items:
            mid = items[r["payment_id"]]["merchant_id"]
        chan = sign(r["txn_type"]) * r["amount_fen"]
        new.append(
            _case(
                batch_id,
                channel,
                day,
                cls,
                r["payment_id"] if cls == "duplicate" else None,
                r["line_no"],
                mid,
                0,
                chan,
                abs(r["fee_fen"]),
                0,
                0,
                at,
            )
        )
    for row in items_out:
        cls, item = row["recon_class"], items[row["item_id"]]
        line = line_by_no.get(row["line_no"]) if row["line_no"] is not None else None
        s = sign(row["txn_type"])
        cost = item["_cost"]  # ours, booked as channel_cost; the receivable is net of it
        ours = s * item["amount_fen"] - cost if item["status"] in MOVED else 0
        chan = s * line["amount_fen"] - cost if line is not None and line["status"] in LINE_MOVED else 0
        fee, fee_diff = 0, 0
        if row["ledger_check"] not in (
            None,
            "ok",
        ):  # the three-way check: the file and ours agree, the book not
            d, c = booked.get(_entry_key(item), (0, 0))
            cls, ours = "ledger_mismatch", s * (d - c if s > 0 else c - d)
            if row["ledger_check"] == "missing":
                fee = item["_fee"]
            else:
                cost = 0
        elif row["resolution"] == "auto_resolved":
            continue
        elif cls == "fee_mismatch":
            if line is not None and item["fee_fen"] is not None:
                fee_diff = line["fee_fen"] - item["fee_fen"]
        elif cls in CASE_KINDS:
            if ours == 0 and line is not None:
                fee = abs(line["fee_fen"])
            elif chan == 0:
                fee = item["_fee"]
        else:
            continue
        if chan == ours and fee_diff == 0:
            continue
        row["resolution"] = "case"
        one_sided = ours == 0 or chan == 0
        new.append(
            _case(
                batch_id,
                channel,
                day,
                cls,
                row["item_id"],
                row["line_no"],
                item["merchant_id"],
                ours,
                chan,
                fee,
                fee_diff,
                cost if one_sided else 0,
                at,
            )
        )
    if new:
        conn.execute(insert(cases), new)
        conn.execute(
            insert(case_events),
            [
                {
                    "case_id": c["id"],
                    "event": "opened",
                    "actor": "recon",
                    "action": c["suggested_action"],
                    "note": f"batch {batch_id}",
                    "at": at,
                }
                for c in new
            ],
        )
    return len(new)


def _case(
    batch_id: str,
    channel: str,
    day: dt.date,
    kind: str,
    item_id: str | None,
    line_no: int | None,
    merchant_id: str | None,
    ours: int,
    chan: int,
    fee: int,
    fee_diff: int,
    cost: int,
    at: dt.datetime,
) -> dict[str, Any]:
    diff = chan - ours
    suggested = SUGGESTED[kind]
    if suggested in ("credit_merchant", "refund_payer") and diff <= 0:
        suggested = "write_off_suspense"
    if suggested in ("credit_merchant", "accept_channel_record") and merchant_id is None:
        suggested = "write_off_suspense"
    return {
        "id": new_id_fast("case", int(at.timestamp() * 1000)),
        "batch_id": batch_id,
        "channel": channel,
        "business_date": day,
        "kind": kind,
        "item_id": item_id,
        "line_no": line_no,
        "merchant_id": merchant_id,
        "ours_fen": ours,
        "channel_fen": chan,
        "diff_fen": diff,
        "fee_fen": fee,
        "fee_diff_fen": fee_diff,
        "cost_fen": cost,
        "suggested_action": suggested,
        "status": "open",
        "action": None,
        "proposed_by": None,
        "approved_by": None,
        "entry_key": None,
        "created_at": at,
        "resolved_at": None,
    }


def allowed_actions(case: Any) -> list[str]:
    """What may resolve a case, given its difference and whether the merchant is known."""
    out = []
    diff, has_mid = case.diff_fen, case.merchant_id is not None
    if diff > 0:
        out.append("refund_payer")
        if has_mid:
            out.append("credit_merchant")
    if diff != 0:
        out.append("write_off_suspense")
    if has_mid and (diff != 0 or case.fee_diff_fen != 0):
        out.append("accept_channel_record")
    if case.kind in ("duplicate", "fee_mismatch"):
        out.append("accept_ours")
    return [a for a in ACTIONS if a in out]


def adjustment_legs(case: Any, action: str) -> list[ledger.Leg]:
    """The entry a resolution posts. Receivable is what the channel owes us; suspense parks what is unexplained
    (or owed back to a payer until the channel's refund clears it); a one-sided item takes its fee with it."""
    diff, fee = case.diff_fen, case.fee_fen
    if action == "accept_ours":
        return []
    if action in ("write_off_suspense", "refund_payer"):
        return list(ledger.movements.unexplained(channel=case.channel, diff_fen=diff))
    if diff == 0:  # fees only: the rail kept more (or less) than the cost we booked; the acquirer bears it
        return list(
            ledger.movements.channel_cost_difference(channel=case.channel, diff_fen=case.fee_diff_fen)
        )
    one_sided = case.ours_fen == 0 or case.channel_fen == 0
    cost = (
        case.cost_fen if one_sided else 0
    )  # the channel cost booked with (or missing from) the item's entry
    gross = abs(diff) + cost
    fee = fee if one_sided and 0 < fee < gross else 0
    # the rail's side is the payment we missed (booked as its success would be) or the one we booked wrongly
    missed = ledger.movements.payment_success(
        channel=case.channel, merchant_id=case.merchant_id, amount_fen=gross, fee_fen=fee, cost_fen=cost
    )
    return list(missed if diff > 0 else ledger.movements.reversal("payment success", missed))


def case_public(conn: Connection, row: Any, *, events: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": row.id,
        "object": "recon.case",
        "batch_id": row.batch_id,
        "channel": row.channel,
        "business_date": row.business_date.isoformat(),
        "kind": row.kind,
        "item_id": row.item_id,
        "line_no": row.line_no,
        "merchant_id": row.merchant_id,
        "ours_fen": row.ours_fen,
        "channel_fen": row.channel_fen,
        "diff_fen": row.diff_fen,
        "fee_fen": row.fee_fen,
        "fee_diff_fen": row.fee_diff_fen,
        "cost_fen": row.cost_fen,
        "suggested_action": row.suggested_action,
        "allowed_actions": allowed_actions(row),
        "status": row.status,
        "action": row.action,
        "proposed_by": row.proposed_by,
        "approved_by": row.approved_by,
        "entry_key": row.entry_key,
        "created_at": row.created_at,
        "resolved_at": row.resolved_at,
    }
    if events:
        doc["events"] = [
            {"event": e.event, "actor": e.actor, "action": e.action, "note": e.note, "at": e.at}
            for e in conn.execute(
                select(case_events).where(case_events.c.case_id == row.id).order_by(case_events.c.id)
            )
        ]
    return doc


def _load_case(conn: Connection, case_id: str) -> Any:
    q = select(cases).where(cases.c.id == case_id)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"no reconciliation case {case_id}", param="case")
    return row


def get_case(conn: Connection, case_id: str) -> dict[str, Any]:
    return case_public(conn, _load_case(conn, case_id), events=True)


def list_cases(
    conn: Connection,
    *,
    status: str | None = None,
    business_date: dt.date | None = None,
    channel: str | None = None,
    batch_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    q = select(cases)
    if status is not None:
        q = q.where(cases.c.status == status)
    if business_date is not None:
        q = q.where(cases.c.business_date == business_date)
    if channel is not None:
        q = q.where(cases.c.channel == channel)
    if batch_id is not None:
        q = q.where(cases.c.batch_id == batch_id)
    return [case_public(conn, r) for r in conn.execute(q.order_by(cases.c.id).limit(min(limit, 10_000)))]


def propose(
    conn: Connection, case_id: str, action: str, maker: str, *, note: str = "", at: dt.datetime | None = None
) -> dict[str, Any]:
    """The maker proposes how to resolve an open case; nothing is posted until a checker approves."""
    at = at or clock.now()
    maker = _actor(maker, "maker")
    row = _load_case(conn, case_id)
    if row.status != "open":
        raise ConflictError(
            f"case {case_id} is {row.status}; only an open case takes a proposal", code="case_not_open"
        )
    if action not in allowed_actions(row):
        raise InvalidRequest(
            f"action {action!r} does not fit this case; one of {', '.join(allowed_actions(row))}",
            param="action",
            code="action_not_allowed",
        )
    conn.execute(
        update(cases).where(cases.c.id == case_id).values(status="proposed", action=action, proposed_by=maker)
    )
    conn.execute(
        insert(case_events),
        [
            {
                "case_id": case_id,
                "event": "proposed",
                "actor": maker,
                "action": action,
                "note": note[:1000],
                "at": at,
            }
        ],
    )
    return get_case(conn, case_id)


def _check_checker(row: Any, checker: str) -> str:
    checker = _actor(checker, "checker")
    if row.status != "proposed":
        raise ConflictError(
            f"case {row.id} is {row.status}; only a proposed case can be approved or rejected",
            code="case_not_proposed",
        )
    if checker == row.proposed_by:
        raise PermissionDenied(
            f"{checker} proposed this resolution; a second person must approve it",
            param="checker",
            code="maker_is_checker",
        )
    return checker


def approve(
    conn: Connection, case_id: str, checker: str, *, note: str = "", at: dt.datetime | None = None
) -> dict[str, Any]:
    """A second person approves: the adjustment is posted and the case is resolved, in one transaction."""
    at = at or clock.now()
    row = _load_case(conn, case_id)
    checker = _check_checker(row, checker)
    legs = adjustment_legs(row, row.action)
    key = None
    if legs:
        key = ledger.keys.recon_adjustment(case_id, row.action)
        ledger.post_entry(
            conn,
            ledger.EntryRequest(key, tuple(legs), f"reconciliation {row.kind} {case_id} ({row.action})"),
            at=at,
        )
    conn.execute(
        update(cases)
        .where(cases.c.id == case_id)
        .values(status="resolved", approved_by=checker, entry_key=key, resolved_at=at)
    )
    conn.execute(
        insert(case_events),
        [
            {
                "case_id": case_id,
                "event": "approved",
                "actor": checker,
                "action": row.action,
                "note": note[:1000],
                "at": at,
            }
        ],
    )
    audit.record(
        conn,
        checker,
        "recon.case_approved",
        "recon_case",
        case_id,
        {"action": row.action, "entry_key": key, "proposed_by": row.proposed_by},
    )
    return get_case(conn, case_id)


def reject(
    conn: Connection, case_id: str, checker: str, *, note: str = "", at: dt.datetime | None = None
) -> dict[str, Any]:
    """The checker sends a proposal back; the case is open again."""
    at = at or clock.now()
    row = _load_case(conn, case_id)
    checker = _check_checker(row, checker)
    conn.execute(
        update(cases).where(cases.c.id == case_id).values(status="open", action=None, proposed_by=None)
    )
    conn.execute(
        insert(case_events),
        [
            {
                "case_id": case_id,
                "event": "rejected",
                "actor": checker,
                "action": row.action,
                "note": note[:1000],
                "at": at,
            }
        ],
    )
    return get_case(conn, case_id)


# ---------------------------------------------------------------- payouts ↔ the bank's result file


def payout_table() -> Any:
    """Settlement's payouts table once it exists (a table with payout id, amount and status), else None."""
    from zhifu.db.meta import metadata

    for name in ("payouts", "settlement_payouts"):
        table = metadata.tables.get(name)
        if table is not None and {"id", "merchant_id", "amount_fen", "status"} <= set(table.c.keys()):
            return table
    return None


def reconcile_payouts(conn: Connection, business_date: dt.date) -> dict[str, Any]:
    """Match the bank's payout result lines of a date to our payouts by payout id and amount: matched,
    missing_ours, amount_mismatch, awaiting_confirmation, status_mismatch_ours_<status>; and count our payouts of
    the same bank batches the file leaves out (missing_bank)."""
    table = payout_table()
    rows = conn.execute(
        select(payout_lines)
        .where(payout_lines.c.business_date == business_date)
        .order_by(payout_lines.c.line_no)
    ).all()
    if not rows:
        raise NotFound(
            f"no payout result file imported for {business_date}", param="date", code="statement_missing"
        )
    if table is None:
        raise ConflictError(
            "settlement payouts are not available yet; the result file is stored and will be "
            "matched once they are",
            code="payouts_unavailable",
        )
    ids = [r.payout_id for r in rows]
    ours: dict[str, Any] = {}
    for chunk in in_chunks(ids):
        for found in conn.execute(select(table).where(table.c.id.in_(chunk))):
            ours[found.id] = found
    counts: dict[str, int] = {}
    for r in rows:
        p = ours.get(r.payout_id)
        if p is None:
            cls = "missing_ours"
        elif p.amount_fen != r.amount_fen or p.merchant_id != r.merchant_id:
            cls = "amount_mismatch"
        elif p.status == "in_transit":
            cls = "awaiting_confirmation"  # settlement has not applied this result yet
        elif p.status != r.status:
            cls = f"status_mismatch_ours_{p.status}"
        else:
            cls = "matched"
        counts[cls] = counts.get(cls, 0) + 1
        conn.execute(
            update(payout_lines)
            .where(and_(payout_lines.c.file_id == r.file_id, payout_lines.c.line_no == r.line_no))
            .values(recon_class=cls)
        )
    if "batch_no" in table.c:  # our payouts of the same bank batches that the file does not mention
        for (pid,) in conn.execute(
            select(table.c.id).where(table.c.batch_no.in_(sorted({r.batch_no for r in rows})))
        ):
            if pid not in ours:
                counts["missing_bank"] = counts.get("missing_bank", 0) + 1
    return {
        "object": "recon.payouts",
        "business_date": business_date.isoformat(),
        "lines": len(rows),
        "classes": counts,
    }


# ---------------------------------------------------------------- reports


def _case_counts(conn: Connection, batch_ids: Sequence[str]) -> dict[str, dict[str, dict[str, int]]]:
    out: dict[str, dict[str, dict[str, int]]] = {}
    for chunk in in_chunks(list(batch_ids)):
        q = (
            select(cases.c.batch_id, cases.c.kind, cases.c.status, func.count(), func.sum(cases.c.diff_fen))
            .where(cases.c.batch_id.in_(chunk))
            .group_by(cases.c.batch_id, cases.c.kind, cases.c.status)
        )
        for bid, kind, status, n, diff in conn.execute(q):
            slot = out.setdefault(bid, {}).setdefault(
                kind, {"open": 0, "proposed": 0, "resolved": 0, "diff_fen": 0}
            )
            slot[status] += int(n)
            slot["diff_fen"] += int(diff or 0)
    return out


def _batch_public(row: Any, case_counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    summary = row.summary if isinstance(row.summary, dict) else json.loads(row.summary)
    matched = summary["lines"].get("matched", {"count": 0, "amount_fen": 0})
    discrepancies = {k: v for k, v in summary["lines"].items() if k not in ("matched", "no_movement")}
    for k, v in summary["items"].items():
        if k not in ("matched", "no_movement") and k not in discrepancies:
            discrepancies[k] = v
    totals = {s: sum(c[s] for c in case_counts.values()) for s in ("open", "proposed", "resolved")}
    return {
        "id": row.id,
        "object": "recon.batch",
        "channel": row.channel,
        "business_date": row.business_date.isoformat(),
        "file_id": row.file_id,
        "pending_days": row.pending_days,
        "run_by": row.run_by,
        "created_at": row.created_at,
        "matched": matched,
        "discrepancies": discrepancies,
        "lines": summary["lines"],
        "items": summary["items"],
        "auto_resolved": summary.get("auto_resolved", 0),
        "ledger_discrepancies": summary.get("ledger_discrepancies", 0),
        "cases": {**totals, "by_kind": case_counts},
    }


def get_batch(conn: Connection, batch_id: str) -> dict[str, Any]:
    row = conn.execute(select(batches).where(batches.c.id == batch_id)).first()
    if row is None:
        raise NotFound(f"no reconciliation batch {batch_id}", param="id")
    return _batch_public(row, _case_counts(conn, [row.id]).get(row.id, {}))


def list_batches(
    conn: Connection,
    *,
    business_date: dt.date | None = None,
    channel: str | None = None,
    limit: int = 20,
    starting_after: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Batches newest first (by date, then channel), with cursor paging."""
    if not 1 <= limit <= PAGE_MAX:
        raise InvalidRequest(f"limit must be 1–{PAGE_MAX}", param="limit")
    q = select(batches)
    if business_date is not None:
        q = q.where(batches.c.business_date == business_date)
    if channel is not None:
        q = q.where(batches.c.channel == channel)
    if starting_after is not None:
        cur = conn.execute(
            select(batches.c.business_date, batches.c.channel).where(batches.c.id == starting_after)
        ).first()
        if cur is None:
            raise InvalidRequest(f"starting_after {starting_after} is not a batch", param="starting_after")
        q = q.where(
            or_(
                batches.c.business_date < cur.business_date,
                and_(batches.c.business_date == cur.business_date, batches.c.channel > cur.channel),
            )
        )
    rows = conn.execute(q.order_by(batches.c.business_date.desc(), batches.c.channel).limit(limit + 1)).all()
    counts = _case_counts(conn, [r.id for r in rows[:limit]])
    return [_batch_public(r, counts.get(r.id, {})) for r in rows[:limit]], len(rows) > limit


def batch_lines(conn: Connection, batch_id: str) -> list[dict[str, Any]]:
    get_batch(conn, batch_id)
    return [
        dict(r._mapping)
        for r in conn.execute(
            select(line_results).where(line_results.c.batch_id == batch_id).order_by(line_results.c.line_no)
        )
    ]


def batch_items(conn: Connection, batch_id: str) -> list[dict[str, Any]]:
    get_batch(conn, batch_id)
    return [
        dict(r._mapping)
        for r in conn.execute(
            select(item_results).where(item_results.c.batch_id == batch_id).order_by(item_results.c.item_id)
        )
    ]


def pending_pool(conn: Connection, channel: str | None = None) -> list[dict[str, Any]]:
    q = select(pending).where(pending.c.status == "waiting")
    if channel is not None:
        q = q.where(pending.c.channel == channel)
    return [dict(r._mapping) for r in conn.execute(q.order_by(pending.c.channel, pending.c.item_id))]


REPORT_COLUMNS = (
    "business_date",
    "channel",
    "batch_id",
    "side",
    "class",
    "count",
    "amount_fen",
    "open",
    "proposed",
    "resolved",
)


def report_rows(
    conn: Connection, *, business_date: dt.date | None = None, channel: str | None = None
) -> list[dict[str, Any]]:
    """One row per channel-day, side and class, with the open/proposed/resolved cases of that class."""
    out: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page, more = list_batches(
            conn, business_date=business_date, channel=channel, limit=PAGE_MAX, starting_after=after
        )
        for b in page:
            by_kind = b["cases"]["by_kind"]
            for side in ("lines", "items"):
                for cls, v in b[side].items():
                    c = (
                        by_kind.get(cls, {})
                        if side == "items" or cls in ("missing_ours", "duplicate")
                        else {}
                    )
                    out.append(
                        {
                            "business_date": b["business_date"],
                            "channel": b["channel"],
                            "batch_id": b["id"],
                            "side": side,
                            "class": cls,
                            "count": v["count"],
                            "amount_fen": v["amount_fen"],
                            "open": c.get("open", 0),
                            "proposed": c.get("proposed", 0),
                            "resolved": c.get("resolved", 0),
                        }
                    )
            if "ledger_mismatch" in by_kind:
                c = by_kind["ledger_mismatch"]
                out.append(
                    {
                        "business_date": b["business_date"],
                        "channel": b["channel"],
                        "batch_id": b["id"],
                        "side": "ledger",
                        "class": "ledger_mismatch",
                        "count": b["ledger_discrepancies"],
                        "amount_fen": c["diff_fen"],
                        "open": c["open"],
                        "proposed": c["proposed"],
                        "resolved": c["resolved"],
                    }
                )
        if not more:
            return out
        after = page[-1]["id"]


def report_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(report_headings())  # Chinese first, the machine name after it
    for r in rows:
        w.writerow([r[c] for c in REPORT_COLUMNS])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # a BOM so spreadsheet programs read the Chinese right


_HEADINGS_ZH = {
    "business_date": "业务日期",
    "channel": "渠道",
    "batch_id": "批次",
    "side": "对象",
    "class": "类别",
    "count": "笔数",
    "amount_fen": "金额（分）",
    "open": "未处理",
    "proposed": "待复核",
    "resolved": "已处理",
    "id": "差错编号",
    "kind": "差错类型",
    "item_id": "我方单号",
    "line_no": "对账单行号",
    "merchant_id": "商户编号",
    "ours_fen": "我方金额（分）",
    "channel_fen": "渠道金额（分）",
    "diff_fen": "差额（分）",
    "suggested_action": "建议处理",
    "status": "状态",
    "action": "处理方式",
    "proposed_by": "提出人",
    "approved_by": "复核人",
}


def report_headings(columns: Sequence[str] = REPORT_COLUMNS) -> list[str]:
    """Column headings of the reconciliation exports: the Chinese name, then the machine name ("业务日期
    business_date"), so a person reads them and a program still finds its column."""
    return [f"{_HEADINGS_ZH[c]} {c}" for c in columns]


def report_xlsx(rows: Sequence[dict[str, Any]], case_rows: Sequence[dict[str, Any]] = ()) -> bytes:
    """An Excel workbook: the summary (Chinese and English headings) and the cases."""
    import io

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "对账汇总 Summary"
    ws.append(report_headings())
    for r in rows:
        ws.append([r[c] for c in REPORT_COLUMNS])
    cs = wb.create_sheet("差错 Cases")
    case_cols = (
        "id",
        "business_date",
        "channel",
        "kind",
        "item_id",
        "line_no",
        "merchant_id",
        "ours_fen",
        "channel_fen",
        "diff_fen",
        "suggested_action",
        "status",
        "action",
        "proposed_by",
        "approved_by",
    )
    cs.append(report_headings(case_cols))
    for c in case_rows:
        cs.append([c[k] for k in case_cols])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
