"""The settlement run: what each merchant is owed for a business date, read from the ledger and aggregated in
SQL; payouts posted to settlement_in_transit with their files; the bank's result file applied once."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Connection, and_, bindparam, case, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from zhifu import audit, ledger
from zhifu import calendar as working_calendar
from zhifu.calendar import WorkingCalendar
from zhifu.core import clock
from zhifu.core.business_day import business_date, day_end
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.core.ids import new_id_fast
from zhifu.core.paging import cursor_page, page_of
from zhifu.db import Database
from zhifu.db.batching import in_chunks
from zhifu.ledger.read import accounts_view as accounts
from zhifu.ledger.read import entries_view as entries
from zhifu.ledger.read import postings_view as postings
from zhifu.merchants.read import merchants_view as merchants
from zhifu.merchants.read import settle_accounts
from zhifu.payments.read import payments_view as payments
from zhifu.payments.read import refunds_view as refunds
from zhifu.recon.formats import StatementFormatError, parse_payout_results
from zhifu.settlement.calendar import settle_date
from zhifu.settlement.files import PayoutInstruction, write_batch_files
from zhifu.settlement.models import (
    BatchStatus,
    LineStatus,
    PayoutStatus,
    settlement_batches,
    settlement_payouts,
    settlement_result_files,
    settlements,
)

log = logging.getLogger("zhifu.settlement")

PAYABLE = ledger.accounts.MERCHANT_PAYABLE_PREFIX
_PAYABLE_END = "merchant_payable;"  # ';' sorts right after ':' — a range scan over every merchant's payable
IN_TRANSIT = ledger.accounts.SETTLEMENT_IN_TRANSIT
BANK = ledger.accounts.BANK
KEY_PREFIX = ledger.keys.SETTLEMENT_PREFIX  # every entry the settlement posts; told apart from trading by it


class SettlementSettings(BaseSettings):
    """ZHIFU_SETTLEMENT_DIR, _MIN_PAYOUT_FEN, _CATCH_UP_DAYS_MAX and _SCHEDULED."""

    model_config = SettingsConfigDict(env_prefix="ZHIFU_SETTLEMENT_", extra="ignore")

    dir: str = "./settlement"
    min_payout_fen: int = 100  # below 1.00 yuan a transfer costs more than it pays; carried to the next run
    catch_up_days_max: int = 31  # the scheduled run settles missed dates, a month at most
    scheduled: bool = True  # `zhifu serve` settles each date after its cut-off; off where another system does


def settings() -> SettlementSettings:
    return SettlementSettings()


def batch_no_of(d: dt.date) -> str:
    return f"ZF{d:%Y%m%d}"


# ---------------------------------------------------------------- the run


def _check_date(d: dt.date, at: dt.datetime) -> None:
    if not isinstance(d, dt.date) or isinstance(d, dt.datetime):
        raise InvalidRequest("business_date must be a date like 2021-10-08", param="date")
    if at < day_end(d):
        raise InvalidRequest(
            f"业务日 {d} 尚未日切（{day_end(d):%Y-%m-%d %H:%M} 北京时间）/ business date {d} is not cut "
            f"off until {day_end(d):%Y-%m-%d %H:%M} Beijing time",
            param="date",
            code="date_not_cut_off",
        )


def _signed() -> Any:
    return case((postings.c.side == "C", postings.c.amount_fen), else_=-postings.c.amount_fen)


def _payable_balances(conn: Connection) -> dict[str, tuple[int, int]]:
    """Every merchant payable: (posted balance, available after holds), locked on PostgreSQL for the run."""
    q = (
        select(accounts.c.code, accounts.c.posted_cr_fen, accounts.c.posted_dr_fen, accounts.c.pending_dr_fen)
        .where(and_(accounts.c.code >= PAYABLE, accounts.c.code < _PAYABLE_END))
        .order_by(accounts.c.code)
    )
    if conn.dialect.name == "postgresql":
        # payments wait for the run: the balance and the activity read agree; the balances are read after
        # the lock is taken, so that a posting that committed while the lock waited is in them
        conn.execute(q.with_for_update()).all()
    out = {}
    for code, cr, dr, pending in conn.execute(q):
        posted = int(cr) - int(dr)
        out[code[len(PAYABLE) :]] = (posted, posted - int(pending))
    return out


def _other_movement(conn: Connection, d: dt.date) -> tuple[dict[str, int], dict[str, int]]:
    """Per merchant, the payable's movement from entries that are neither payments, refunds nor settlement's own
    within business date `d` (subsidies, adjustments), and from every entry but settlement's own after its
    cut-off (what belongs to later dates). Payments and refunds of `d` are summed from their own tables."""
    start, end = day_end(d - dt.timedelta(days=1)), day_end(d)
    key = entries.c.idempotency_key
    # the entries of the window, found by time, are the small side: materialised first, so the planner never
    # walks the account index, which holds every payable posting ever made
    window = (
        select(entries.c.id, entries.c.created_at)
        .where(
            and_(
                entries.c.created_at >= start,
                ~key.startswith(KEY_PREFIX),
                or_(
                    entries.c.created_at >= end,
                    and_(*(~key.startswith(k) for k in ledger.keys.TRADING_PREFIXES)),
                ),
            )
        )
        .cte("settle_window")
        .prefix_with("MATERIALIZED")
    )
    code = postings.c.account_code + literal("")  # not a reason to start from the account index
    signed = _signed()
    q = (
        select(
            postings.c.account_code,
            func.sum(case((window.c.created_at < end, signed), else_=literal(0))),
            func.sum(case((window.c.created_at >= end, signed), else_=literal(0))),
        )
        .select_from(window.join(postings, postings.c.entry_id == window.c.id))
        .where(and_(code >= PAYABLE, code < _PAYABLE_END))
        .group_by(postings.c.account_code)
    )
    other, after = {}, {}
    for code, w, a in conn.execute(q):
        mid = code[len(PAYABLE) :]
        other[mid], after[mid] = int(w or 0), int(a or 0)
    return other, after


def _trading(
    conn: Connection, d: dt.date
) -> tuple[dict[str, tuple[int, int, int]], dict[str, tuple[int, int, int]]]:
    """Per merchant: (count, amount, fee) of payments and (count, amount, fee returned) of refunds of date `d`."""
    pays = {
        m: (int(n), int(a), int(f))
        for m, n, a, f in conn.execute(
            select(
                payments.c.merchant_id,
                func.count(),
                func.sum(payments.c.amount_fen),
                func.sum(payments.c.fee_fen),
            )
            .where(and_(payments.c.business_date == d, payments.c.status == "succeeded"))
            .group_by(payments.c.merchant_id)
        )
    }
    refs = {
        m: (int(n), int(a), int(f))
        for m, n, a, f in conn.execute(
            select(
                refunds.c.merchant_id,
                func.count(),
                func.sum(refunds.c.amount_fen),
                func.sum(refunds.c.fee_refunded_fen),
            )
            .where(and_(refunds.c.business_date == d, refunds.c.status == "succeeded"))
            .group_by(refunds.c.merchant_id)
        )
    }
    return pays, refs


def _merchant_info(conn: Connection, ids: Sequence[str]) -> dict[str, Any]:
    out = {}
    for chunk in in_chunks(ids):
        out.update(
            {
                r.id: r
                for r in conn.execute(
                    select(
                        merchants.c.id,
                        merchants.c.settlement_cycle,
                        merchants.c.frozen,
                        merchants.c.settle_bank,
                        merchants.c.settle_account_masked,
                        merchants.c.settle_account_name,
                    ).where(merchants.c.id.in_(chunk))
                )
            }
        )
    return out


@functools.lru_cache(maxsize=256)
def _settle_date(d: dt.date, cycle: str, cal: WorkingCalendar) -> Any:
    return settle_date(d, cycle, cal)


def _line(
    mid: str,
    m: Any,
    d: dt.date,
    posted: int,
    available: int,
    other: int,
    after: int,
    pay: tuple[int, int, int],
    ref: tuple[int, int, int],
    min_payout_fen: int,
    cal: WorkingCalendar,
) -> dict[str, Any]:
    net = posted - after
    trading = pay[1] - pay[2] - ref[1] + ref[2]  # what payments and refunds of the date put on the payable
    cycle = (m.settlement_cycle if m is not None else None) or "T+1"
    when = _settle_date(d, cycle, cal)
    reason: str | None
    if net <= 0:
        status, reason, payout = LineStatus.CARRIED, "negative" if net < 0 else "nothing_due", 0
    elif m is None:
        status, reason, payout = LineStatus.HELD, "no_merchant", 0
    elif m.frozen == "Y":
        status, reason, payout = LineStatus.HELD, "frozen", 0
    elif min(net, available) < min_payout_fen:
        status, reason, payout = LineStatus.CARRIED, "below_minimum" if available >= net else "on_hold", 0
    else:  # a hold on the payable (a dispute, a risk reserve) stays behind
        status, reason, payout = (
            LineStatus.IN_TRANSIT,
            None if available >= net else "partly_on_hold",
            min(net, available),
        )
    return {
        "merchant_id": mid,
        "business_date": d,
        "cycle": cycle,
        "settle_date": when.date,
        "advanced": when.advanced,
        "sales_count": pay[0],
        "sales_fen": pay[1],
        "refund_count": ref[0],
        "refund_fen": ref[1],
        "fee_fen": pay[2],
        "fee_returned_fen": ref[2],
        "adjustments_fen": other,
        "brought_forward_fen": net - trading - other,
        "net_fen": net,
        "payout_fen": payout,
        "carried_fen": net - payout,
        "status": status,
        "reason": reason,
    }


def _compute(conn: Connection, d: dt.date, min_payout_fen: int) -> list[dict[str, Any]]:
    cal = working_calendar.load(conn)
    cal.next_working_day(d)  # a date the calendar cannot count is refused before anything is posted
    balances = _payable_balances(conn)
    other, after = _other_movement(conn, d)
    pays, refs = _trading(conn, d)
    none = (0, 0, 0)
    mids = sorted(
        {m for m, (posted, _) in balances.items() if posted - after.get(m, 0) != 0}
        | {m for m, v in other.items() if v}
        | set(pays)
        | set(refs)
    )
    info = _merchant_info(conn, mids)
    return [
        _line(
            mid,
            info.get(mid),
            d,
            *balances.get(mid, (0, 0)),
            other.get(mid, 0),
            after.get(mid, 0),
            pays.get(mid, none),
            refs.get(mid, none),
            min_payout_fen,
            cal,
        )
        for mid in mids
    ]


def _post_payouts(
    conn: Connection,
    batch_no: str,
    d: dt.date,
    lines: list[dict[str, Any]],
    info: dict[str, Any],
    at: dt.datetime,
) -> None:
    """Insert the lines and payouts and post DR merchant_payable → CR settlement_in_transit for each payout."""
    ms = int(at.timestamp() * 1000)
    payout_rows, reqs = [], []
    for line in lines:
        line["id"], line["batch_no"], line["created_at"] = new_id_fast("set", ms), batch_no, at
        line["payout_id"] = None
        if line["payout_fen"] > 0:
            m = info[line["merchant_id"]]
            pid = line["payout_id"] = new_id_fast("po", ms)
            payout_rows.append(
                {
                    "merchant_id": line["merchant_id"],
                    "id": pid,
                    "settlement_id": line["id"],
                    "batch_no": batch_no,
                    "business_date": d,
                    "settle_date": line["settle_date"],
                    "advanced": line["advanced"],
                    "amount_fen": line["payout_fen"],
                    "bank": m.settle_bank,
                    "account_masked": m.settle_account_masked,
                    "account_name": m.settle_account_name,
                    "status": PayoutStatus.IN_TRANSIT,
                    "reason": None,
                    "created_at": at,
                    "resolved_at": None,
                }
            )
            reqs.append(
                ledger.EntryRequest(
                    ledger.keys.settlement_payout(d, line["merchant_id"]),
                    ledger.movements.settlement_payout(
                        merchant_id=line["merchant_id"], amount_fen=line["payout_fen"]
                    ),
                    f"settlement {batch_no} payout {pid}",
                )
            )
    if lines:
        conn.execute(insert(settlements), lines)
    if payout_rows:
        conn.execute(insert(settlement_payouts), payout_rows)
    step = ledger.service.BATCH_MAX
    for start in range(0, len(reqs), step):
        ledger.post_entries(conn, reqs[start : start + step], at=at)


class BatchDoc(TypedDict):
    """A settlement run as the API, the console and the simulator get it."""

    object: str  # "settlement_batch"
    batch_no: str
    business_date: str
    status: str  # a BatchStatus
    merchant_count: int
    payout_count: int
    payout_fen: int
    held_count: int
    held_fen: int
    carried_count: int
    carried_fen: int
    file_dir: str | None
    created_at: dt.datetime
    filed_at: dt.datetime | None


class RunDoc(BatchDoc, total=False):
    """A run as `run_settlement` answers: the batch, whether this call made it, and its payout files."""

    created: bool
    files: dict[str, str]


class PayoutImportDoc(TypedDict):
    """What applying a bank's payout result file did."""

    object: str  # "payout_result_import"
    batch_no: str
    duplicate: bool
    lines: int
    paid: int
    failed: int
    unchanged: int


def _batch_doc(row: Any) -> BatchDoc:
    return {
        "object": "settlement_batch",
        "batch_no": row.batch_no,
        "business_date": row.business_date.isoformat(),
        "status": row.status,
        "merchant_count": row.merchant_count,
        "payout_count": row.payout_count,
        "payout_fen": row.payout_fen,
        "held_count": row.held_count,
        "held_fen": row.held_fen,
        "carried_count": row.carried_count,
        "carried_fen": row.carried_fen,
        "file_dir": row.file_dir,
        "created_at": row.created_at,
        "filed_at": row.filed_at,
    }


def _post_run(conn: Connection, d: dt.date, at: dt.datetime, min_payout_fen: int) -> tuple[BatchDoc, bool]:
    """Compute and post a date's run in one transaction; an existing run of the date is returned as it is."""
    existing = conn.execute(select(settlement_batches).where(settlement_batches.c.business_date == d)).first()
    if existing is not None:
        return _batch_doc(existing), False
    last = conn.execute(select(func.max(settlement_batches.c.business_date))).scalar()
    if last is not None and last > d:
        raise ConflictError(
            f"已结算至 {last}，业务日须按顺序结算 / settlement already ran for {last}; dates are settled "
            f"in order, so {d} was included in later runs",
            param="date",
            code="settlement_out_of_order",
        )
    batch_no = batch_no_of(d)
    lines = _compute(conn, d, min_payout_fen)
    info = _merchant_info(conn, [ln["merchant_id"] for ln in lines if ln["payout_fen"] > 0])
    held = [ln for ln in lines if ln["status"] == LineStatus.HELD]
    carried = [ln for ln in lines if ln["status"] == LineStatus.CARRIED]
    paying = [ln for ln in lines if ln["payout_fen"] > 0]
    try:
        with conn.begin_nested():  # claims the date: a concurrent run of it stops here
            conn.execute(
                insert(settlement_batches),
                [
                    {
                        "batch_no": batch_no,
                        "business_date": d,
                        "status": BatchStatus.POSTED,
                        "merchant_count": len(lines),
                        "payout_count": len(paying),
                        "payout_fen": sum(ln["payout_fen"] for ln in paying),
                        "held_count": len(held),
                        "held_fen": sum(ln["carried_fen"] for ln in held),
                        "carried_count": len(carried),
                        "carried_fen": sum(ln["carried_fen"] for ln in carried),
                        "file_dir": None,
                        "created_at": at,
                        "filed_at": None,
                    }
                ],
            )
    except IntegrityError as exc:
        raise ConflictError(
            f"settlement of {d} is running already", param="date", code="settlement_running"
        ) from exc
    _post_payouts(conn, batch_no, d, lines, info, at)
    audit.record(
        conn,
        None,
        "settlement.run",
        "settlement_batch",
        batch_no,
        {
            "business_date": d.isoformat(),
            "merchants": len(lines),
            "payouts": len(paying),
            "payout_fen": sum(ln["payout_fen"] for ln in paying),
            "held": len(held),
        },
        at=at,
    )
    row = conn.execute(select(settlement_batches).where(settlement_batches.c.batch_no == batch_no)).one()
    return _batch_doc(row), True


def _instructions(conn: Connection, batch_no: str) -> list[PayoutInstruction]:
    rows = conn.execute(
        select(settlement_payouts)
        .where(settlement_payouts.c.batch_no == batch_no)
        .order_by(settlement_payouts.c.merchant_id)
    ).all()
    accounts_of = settle_accounts(conn, [r.merchant_id for r in rows])
    return [
        PayoutInstruction(
            batch_no,
            r.id,
            r.merchant_id,
            r.bank,
            accounts_of[r.merchant_id],
            r.account_name,
            r.amount_fen,
            r.settle_date,
            r.advanced,
            r.business_date,
        )
        for r in rows
    ]


def _summary(conn: Connection, batch: Mapping[str, Any]) -> dict[str, Any]:
    by_date = conn.execute(
        select(
            settlement_payouts.c.settle_date,
            settlement_payouts.c.advanced,
            func.count(),
            func.sum(settlement_payouts.c.amount_fen),
        )
        .where(settlement_payouts.c.batch_no == batch["batch_no"])
        .group_by(settlement_payouts.c.settle_date, settlement_payouts.c.advanced)
        .order_by(settlement_payouts.c.settle_date)
    ).all()
    reasons = conn.execute(
        select(settlements.c.status, settlements.c.reason, func.count(), func.sum(settlements.c.carried_fen))
        .where(settlements.c.batch_no == batch["batch_no"])
        .group_by(settlements.c.status, settlements.c.reason)
    ).all()
    return {
        **{k: v for k, v in batch.items() if k not in ("file_dir", "filed_at", "object")},
        "object": "settlement_summary",
        "payouts_by_settle_date": [
            {"settle_date": s.isoformat(), "advanced": bool(a), "count": n, "amount_fen": int(t)}
            for s, a, n, t in by_date
        ],
        "lines_by_status": [
            {"status": s, "reason": r, "count": n, "carried_fen": int(t or 0)} for s, r, n, t in reasons
        ],
    }


def _write_files(db: Database, batch: BatchDoc, out_dir: Path, at: dt.datetime) -> RunDoc:
    with db.tx() as conn:
        rows = _instructions(conn, batch["batch_no"])
        summary = _summary(conn, batch)
    directory = out_dir / batch["business_date"]
    paths = write_batch_files(
        directory,
        batch["batch_no"],
        dt.date.fromisoformat(batch["business_date"]),
        at.astimezone(SHANGHAI),
        rows,
        summary,
    )

    def mark(conn: Connection) -> BatchDoc:
        conn.execute(
            update(settlement_batches)
            .where(settlement_batches.c.batch_no == batch["batch_no"])
            .values(status=BatchStatus.FILED, file_dir=str(directory), filed_at=at)
        )
        audit.record(
            conn,
            None,
            "settlement.payout_files",
            "settlement_batch",
            batch["batch_no"],
            {"sha256": {k: hashlib.sha256(Path(v).read_bytes()).hexdigest() for k, v in paths.items()}},
            at=at,
        )
        return _batch_doc(
            conn.execute(
                select(settlement_batches).where(settlement_batches.c.batch_no == batch["batch_no"])
            ).one()
        )

    return {**db.run(mark), "files": paths}


def run_settlement(
    db: Database,
    business_date: dt.date,
    *,
    at: dt.datetime | None = None,
    min_payout_fen: int | None = None,
    out_dir: str | Path | None = None,
) -> RunDoc:
    """Settle a business date: post every merchant's payout, then write the payout files and the summary.

    Safe to repeat: a date already posted is not posted again; a run that stopped before its files were written
    writes them now; the ledger keys `settle:<date>:<merchant>` would refuse a second payout anyway.
    """
    at = at or clock.now()
    _check_date(business_date, at)
    cfg = settings()
    min_fen = cfg.min_payout_fen if min_payout_fen is None else min_payout_fen
    if min_fen < 1:
        raise InvalidRequest("min_payout_fen must be at least 1", param="min_payout_fen")
    batch, fresh = db.run(lambda c: _post_run(c, business_date, at, min_fen))
    directory = Path(out_dir or cfg.dir)
    files_there = batch["file_dir"] and all(
        (Path(batch["file_dir"]) / f"{batch['batch_no']}{ext}").exists() for ext in (".csv", ".gbk.txt")
    )
    if batch["status"] == BatchStatus.FILED and files_there:
        return {**batch, "created": False}
    return {**_write_files(db, batch, directory, at), "created": fresh}


def last_settled_date(conn: Connection) -> dt.date | None:
    return conn.execute(select(func.max(settlement_batches.c.business_date))).scalar()


def scheduled_run(db: Database, *, at: dt.datetime | None = None) -> list[RunDoc]:
    """For `zhifu serve`: settle every business date cut off since the last run (a month at most), in order.

    Cheap when there is nothing to do (one query), so it can run on every sweeper pass.
    """
    cfg = settings()
    if not cfg.scheduled:
        return []
    at = at or clock.now()
    latest = business_date(at) - dt.timedelta(days=1)  # the last date already cut off
    with db.tx() as conn:
        last = last_settled_date(conn)
        unfiled = (
            conn.execute(
                select(settlement_batches.c.business_date).where(
                    settlement_batches.c.status == BatchStatus.POSTED
                )
            )
            .scalars()
            .all()
        )
    first = latest if last is None else last + dt.timedelta(days=1)
    first = max(first, latest - dt.timedelta(days=cfg.catch_up_days_max - 1))
    days = sorted(set(unfiled) | {first + dt.timedelta(days=i) for i in range((latest - first).days + 1)})
    done = []
    for d in days:
        try:
            done.append(run_settlement(db, d, at=at))
        except InvalidRequest as exc:
            if exc.code != "calendar_out_of_range":
                raise
            _log_once(exc.message)  # every sweeper pass meets it until the operator imports the new year
            break
        log.info("settled %s: %s payouts", d, done[-1]["payout_count"])
    return done


_logged: set[str] = set()


def _log_once(message: str) -> None:
    if message not in _logged:
        _logged.add(message)
        log.error("settlement stopped: %s", message)


# ---------------------------------------------------------------- the bank's result file


def import_result(
    db: Database, data: bytes, *, filename: str = "", at: dt.datetime | None = None
) -> PayoutImportDoc:
    """Apply the bank's payout result file: paid → DR settlement_in_transit, CR bank; failed → back to the
    merchant's payable, paid again by the next run. The whole file is checked first and refused naming the line;
    the same file twice, or a payout already marked the same way, changes nothing."""
    at = at or clock.now()
    rows = parse_payout_results(data)
    if not rows:
        raise StatementFormatError("the file has no payout lines", line_no=2, field="payout_id")
    sha = hashlib.sha256(data).hexdigest()
    return db.run(lambda c: _apply_results(c, rows, sha, filename, at))


def _apply_results(
    conn: Connection, rows: list[Any], sha: str, filename: str, at: dt.datetime
) -> PayoutImportDoc:
    prior = conn.execute(
        select(settlement_result_files).where(settlement_result_files.c.sha256 == sha)
    ).first()
    batch_no = rows[0].batch_no
    if prior is not None:
        return {
            "object": "payout_result_import",
            "batch_no": batch_no,
            "duplicate": True,
            "lines": len(rows),
            "paid": 0,
            "failed": 0,
            "unchanged": len(rows),
        }
    if (
        conn.execute(
            select(settlement_batches.c.batch_no).where(settlement_batches.c.batch_no == batch_no)
        ).first()
        is None
    ):
        raise StatementFormatError(f"unknown settlement batch {batch_no}", line_no=2, field="batch_no")
    ours: dict[str, Any] = {}
    for chunk in in_chunks([r.payout_id for r in rows]):
        q = select(settlement_payouts).where(settlement_payouts.c.id.in_(chunk))
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()
        ours.update({p.id: p for p in conn.execute(q)})
    todo = []
    for i, r in enumerate(rows):
        line_no = i + 2
        p = ours.get(r.payout_id)
        if p is None or p.batch_no != batch_no:
            raise StatementFormatError(
                f"no payout {r.payout_id} in batch {batch_no}", line_no=line_no, field="payout_id"
            )
        if p.merchant_id != r.merchant_id:
            raise StatementFormatError(
                f"payout {r.payout_id} is for {p.merchant_id}, not {r.merchant_id}",
                line_no=line_no,
                field="merchant_id",
            )
        if p.amount_fen != r.amount_fen:
            raise StatementFormatError(
                f"payout {r.payout_id} is {p.amount_fen} fen, the file says {r.amount_fen}",
                line_no=line_no,
                field="amount_fen",
            )
        if p.status == PayoutStatus.IN_TRANSIT:
            todo.append((r, p))
        elif p.status != r.status:
            raise StatementFormatError(
                f"payout {r.payout_id} was already marked {p.status}", line_no=line_no, field="status"
            )
    reqs = []
    for r, p in todo:
        legs = ledger.movements.settlement_result(
            outcome=r.status, merchant_id=p.merchant_id, amount_fen=p.amount_fen
        )
        reqs.append(
            ledger.EntryRequest(
                ledger.keys.settlement_result(r.status, p.id), legs, f"payout {p.id} {r.status}"
            )
        )
    step = ledger.service.BATCH_MAX
    for start in range(0, len(reqs), step):
        ledger.post_entries(conn, reqs[start : start + step], at=at)
    if todo:
        conn.execute(
            update(settlement_payouts)
            .where(
                and_(
                    settlement_payouts.c.merchant_id == bindparam("m"),
                    settlement_payouts.c.id == bindparam("p"),
                )
            )
            .values(status=bindparam("s"), reason=bindparam("r"), resolved_at=at),
            [{"m": p.merchant_id, "p": p.id, "s": r.status, "r": r.reason or None} for r, p in todo],
        )
        conn.execute(
            update(settlements)
            .where(and_(settlements.c.merchant_id == bindparam("m"), settlements.c.id == bindparam("i")))
            .values(status=bindparam("s")),
            [{"m": p.merchant_id, "i": p.settlement_id, "s": r.status} for r, p in todo],
        )
    by_status: dict[str, int] = defaultdict(int)
    for r, _ in todo:
        by_status[r.status] += 1
    paid, failed = by_status["paid"], by_status["failed"]
    audit.record(
        conn,
        None,
        "settlement.payout_results",
        "settlement_batch",
        batch_no,
        {"sha256": sha, "lines": len(rows), "paid": paid, "failed": failed},
        at=at,
    )
    conn.execute(
        insert(settlement_result_files),
        [
            {
                "sha256": sha,
                "batch_no": batch_no,
                "filename": filename[:200],
                "line_count": len(rows),
                "paid_count": paid,
                "failed_count": failed,
                "imported_at": at,
            }
        ],
    )
    return {
        "object": "payout_result_import",
        "batch_no": batch_no,
        "duplicate": False,
        "lines": len(rows),
        "paid": paid,
        "failed": failed,
        "unchanged": len(rows) - paid - failed,
    }


# ---------------------------------------------------------------- reading


def public(row: Any, payout: Any | None = None) -> dict[str, Any]:
    doc = {
        "id": row.id,
        "object": "settlement",
        "merchant_id": row.merchant_id,
        "business_date": row.business_date.isoformat(),
        "batch_no": row.batch_no,
        "cycle": row.cycle,
        "settle_date": row.settle_date.isoformat(),
        "advanced": bool(row.advanced),
        "sales_count": row.sales_count,
        "sales_fen": row.sales_fen,
        "refund_count": row.refund_count,
        "refund_fen": row.refund_fen,
        "fee_fen": row.fee_fen,
        "fee_returned_fen": row.fee_returned_fen,
        "adjustments_fen": row.adjustments_fen,
        "brought_forward_fen": row.brought_forward_fen,
        "net_fen": row.net_fen,
        "payout_fen": row.payout_fen,
        "carried_fen": row.carried_fen,
        "status": row.status,
        "reason": row.reason,
        "payout_id": row.payout_id,
        "created_at": row.created_at,
    }
    if payout is not None:
        doc["payout"] = {
            "id": payout.id,
            "object": "payout",
            "amount_fen": payout.amount_fen,
            "status": payout.status,
            "bank": payout.bank,
            "account": payout.account_masked,
            "account_name": payout.account_name,
            "settle_date": payout.settle_date.isoformat(),
            "reason": payout.reason,
            "resolved_at": payout.resolved_at,
        }
    return doc


def get_settlement(conn: Connection, merchant_id: str | None, settlement_id: str) -> dict[str, Any]:
    """A merchant sees only its own settlements: another's id is simply not found."""
    q = select(settlements).where(settlements.c.id == settlement_id)
    if merchant_id is not None:
        q = q.where(settlements.c.merchant_id == merchant_id)
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"no settlement {settlement_id}", param="id")
    payout = None
    if row.payout_id:
        payout = conn.execute(
            select(settlement_payouts).where(
                and_(
                    settlement_payouts.c.merchant_id == row.merchant_id,
                    settlement_payouts.c.id == row.payout_id,
                )
            )
        ).first()
    return public(row, payout)


def list_settlements(
    conn: Connection,
    merchant_id: str | None,
    *,
    business_date: dt.date | None = None,
    status: str | None = None,
    limit: int = 20,
    starting_after: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    where = []
    if merchant_id is not None:
        where.append(settlements.c.merchant_id == merchant_id)
    if business_date is not None:
        where.append(settlements.c.business_date == business_date)
    if status:
        where.append(settlements.c.status == status)
    return cursor_page(conn, settlements, where, limit=limit, starting_after=starting_after, public=public)


def list_batches(
    conn: Connection, *, limit: int = 20, before: dt.date | None = None
) -> tuple[list[BatchDoc], bool]:
    """Settlement runs, newest business date first; `before` pages on."""
    b = settlement_batches.c
    return page_of(
        conn,
        select(settlement_batches),
        b.business_date,
        limit=limit,
        starting_after=before,
        public=_batch_doc,
    )


def get_batch(conn: Connection, business_date: dt.date) -> dict[str, Any]:
    row = conn.execute(
        select(settlement_batches).where(settlement_batches.c.business_date == business_date)
    ).first()
    if row is None:
        raise NotFound(
            f"业务日 {business_date} 尚未结算 / no settlement run for {business_date}", param="date"
        )
    return _summary(conn, _batch_doc(row)) | {"status": row.status, "file_dir": row.file_dir}
