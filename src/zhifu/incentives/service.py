"""Campaign use cases: create, fund, version rules, pause and end; price a payment (the instant discount, held
on the budget); grant cost refunds, subsidies and fee waivers on success; claw back on refunds; report."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import secrets
from collections.abc import Sequence
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import Connection, Executable, and_, distinct, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from zhifu import ledger
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.core.ids import new_id
from zhifu.core.money import check_fen, ppm_of
from zhifu.core.paging import cursor_page, page_limit
from zhifu.db.cache import EngineCache
from zhifu.db.meta import utc_bind
from zhifu.db.rows import first_row
from zhifu.db.slots import connection_slot
from zhifu.fees import refund_fee_share
from zhifu.fees.service import payment_cost
from zhifu.incentives.models import (
    MERCHANT_DAY_SLOTS,
    CampaignStatus,
    campaign_awards,
    campaign_clawbacks,
    campaign_counters,
    campaign_flags,
    campaign_versions,
    campaigns,
    circle_merchants,
    incentive_payers,
    merchant_days,
)
from zhifu.incentives.rules import (
    SPLIT_COUNT,
    SPLIT_WINDOW_S,
    Context,
    Rules,
    draw_discount,
    matches,
    rules_of,
    validate_rules,
)
from zhifu.merchants.service import county

BUDGET_FEN_MAX = 10_000_000_000  # 100 million yuan: more than any county programme funds in one campaign
REPORT_ROWS_MAX = 1_000  # rows per report breakdown
HOLD_MARGIN_S = 24 * 3600  # a discount hold outlives its payment by a day, for late rail notifications
SHORTFALL = ledger.accounts.CAMPAIGN_SHORTFALL  # expense: a discount the budget could no longer cover
GOVERNMENT_FUNDERS = (
    "government",
    "county_finance",
    "commerce_bureau",
)  # non-bank funders a campaign may name


budget_account = ledger.accounts.campaign_budget
clearing_account = ledger.accounts.campaign_clearing
funder_account = ledger.accounts.campaign_funder
incentive_payable_account = ledger.accounts.incentive_payable


def _day(at: dt.datetime) -> str:
    return at.astimezone(SHANGHAI).date().isoformat()


@functools.cache
def _insert_ignore(dialect_name: str, table: Any) -> Executable:
    """INSERT … ON CONFLICT DO NOTHING for this table, built once per dialect (a payment's success runs it)."""
    return (postgresql if dialect_name == "postgresql" else sqlite).insert(table).on_conflict_do_nothing()


def _upsert_ignore(conn: Connection, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, skipping those whose key exists (both backends speak ON CONFLICT DO NOTHING)."""
    if not rows:
        return
    conn.execute(_insert_ignore(conn.dialect.name, table), list(rows))


# ---------------------------------------------------------------- campaigns


class CreateCampaign(BaseModel):
    """The body of POST /v1/campaigns."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=100)
    funder: str = Field(min_length=1, max_length=40)
    budget_fen: StrictInt
    seed: str | None = Field(default=None, min_length=1, max_length=64)
    rules: Rules


class FundCampaign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_fen: StrictInt


def _check_funder(funder: str) -> str:
    banks = {i.id for i in county().institutions if {"acquirer", "issuer"} & set(i.roles)}
    if funder not in banks and funder not in GOVERNMENT_FUNDERS:
        raise InvalidRequest(
            f"未知出资方 / unknown funder {funder!r}: a bank of the county profile or one of "
            f"{', '.join(GOVERNMENT_FUNDERS)}",
            param="funder",
            code="unknown_funder",
        )
    return funder


def _check_budget(amount_fen: object, param: str) -> int:
    if isinstance(amount_fen, int) and not isinstance(amount_fen, bool) and amount_fen <= 0:
        raise InvalidRequest(
            f"预算须为正 / {param} must be positive, got {amount_fen}", param=param, code="invalid_amount"
        )
    return check_fen(amount_fen, max_fen=BUDGET_FEN_MAX, param=param)


def public(conn: Connection, row: Any) -> dict[str, Any]:
    """A campaign as the API shows it, with its current rules and budget."""
    version = conn.execute(
        select(campaign_versions).where(
            and_(campaign_versions.c.campaign_id == row.id, campaign_versions.c.version == row.version)
        )
    ).one()
    bal = ledger.get_balance(conn, budget_account(row.id))
    return {
        "id": row.id,
        "object": "campaign",
        "name": row.name,
        "funder": row.funder,
        "status": row.status,
        "version": row.version,
        "rules": version.rules,
        "funded_fen": row.funded_fen,
        "remaining_fen": bal.available_fen,
        "reserved_fen": bal.pending_debits_fen,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _row(conn: Connection, campaign_id: str, *, lock: bool = False) -> Any:
    q = select(campaigns).where(campaigns.c.id == campaign_id)
    row = first_row(conn, q, lock=lock)
    if row is None:
        raise NotFound(f"no campaign {campaign_id}", param="id")
    return row


def create_campaign(
    conn: Connection, req: CreateCampaign, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """Validate everything first, then store the campaign, its first rules version and its funded budget."""
    at = at or clock.now()
    _check_funder(req.funder)
    budget = _check_budget(req.budget_fen, "budget_fen")
    rules = validate_rules(req.rules, county())
    cid = new_id("cmp", at_ms=int(at.timestamp() * 1000))
    _ACTIVE.invalidate(conn)
    conn.execute(
        campaigns.insert(),
        [
            {
                "id": cid,
                "name": req.name,
                "funder": req.funder,
                "status": CampaignStatus.ACTIVE,
                "seed": req.seed or secrets.token_hex(16),
                "version": 1,
                "funded_fen": 0,
                "created_at": at,
                "updated_at": at,
            }
        ],
    )
    conn.execute(
        campaign_versions.insert(),
        [{"campaign_id": cid, "version": 1, "rules": rules.model_dump(mode="json"), "created_at": at}],
    )
    ledger.open_accounts(
        conn,
        [
            (budget_account(cid), "liability", "CNY", True),
            (clearing_account(cid), "liability", "CNY", False),
            (funder_account(req.funder), "asset", "CNY", False),
        ],
    )
    _fund(conn, _row(conn, cid), budget, at)
    return public(conn, _row(conn, cid))


def _fund(conn: Connection, c: Any, amount_fen: int, at: dt.datetime) -> None:
    # The funder commits the money (DR what the funder owes us, CR the budget); its transfer clears the
    # funder account against `bank` outside this module.
    key = ledger.keys.campaign_funding(c.id, c.funded_fen, amount_fen)
    legs = ledger.movements.campaign_funding(campaign_id=c.id, funder=c.funder, amount_fen=amount_fen)
    ledger.post_entry(conn, ledger.EntryRequest(key, legs, f"campaign {c.id} funded by {c.funder}"), at=at)
    conn.execute(
        update(campaigns)
        .where(campaigns.c.id == c.id)
        .values(funded_fen=campaigns.c.funded_fen + amount_fen, updated_at=at)
    )
    _ACTIVE.invalidate(conn)


def fund_campaign(
    conn: Connection, campaign_id: str, amount_fen: int, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """Add money to a campaign's budget."""
    at = at or clock.now()
    amount = _check_budget(amount_fen, "amount_fen")
    c = _row(conn, campaign_id, lock=True)
    if c.status == CampaignStatus.ENDED:
        raise ConflictError(f"campaign {campaign_id} has ended", code="campaign_ended")
    _fund(conn, c, amount, at)
    return public(conn, _row(conn, campaign_id))


def change_rules(
    conn: Connection, campaign_id: str, rules: Rules, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """Write the next rules version; payments already priced keep the version they were priced with."""
    at = at or clock.now()
    rules = validate_rules(rules, county())
    c = _row(conn, campaign_id, lock=True)
    if c.status == CampaignStatus.ENDED:
        raise ConflictError(f"campaign {campaign_id} has ended", code="campaign_ended")
    conn.execute(
        campaign_versions.insert(),
        [
            {
                "campaign_id": c.id,
                "version": c.version + 1,
                "rules": rules.model_dump(mode="json"),
                "created_at": at,
            }
        ],
    )
    conn.execute(update(campaigns).where(campaigns.c.id == c.id).values(version=c.version + 1, updated_at=at))
    _ACTIVE.invalidate(conn)
    return public(conn, _row(conn, campaign_id))


def set_status(
    conn: Connection,
    campaign_id: str,
    action: Literal["pause", "resume", "end"],
    *,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Pause, resume or end a campaign. Ending returns what is left of the budget (beyond pending holds) to the
    funder."""
    at = at or clock.now()
    c = _row(conn, campaign_id, lock=True)
    allowed = {
        "pause": (CampaignStatus.ACTIVE,),
        "resume": (CampaignStatus.PAUSED,),
        "end": (CampaignStatus.ACTIVE, CampaignStatus.PAUSED),
    }[action]
    if c.status not in allowed:
        raise ConflictError(f"campaign {campaign_id} is {c.status}; cannot {action}", code="campaign_status")
    status = {"pause": CampaignStatus.PAUSED, "resume": CampaignStatus.ACTIVE, "end": CampaignStatus.ENDED}[
        action
    ]
    if action == "end":
        left = ledger.get_balance(conn, budget_account(c.id)).available_fen
        if left > 0:
            legs = ledger.movements.campaign_return(campaign_id=c.id, funder=c.funder, amount_fen=left)
            ledger.post_entry(
                conn,
                ledger.EntryRequest(
                    ledger.keys.campaign_return(c.id), legs, f"campaign {c.id} ended: budget returned"
                ),
                at=at,
            )
    conn.execute(update(campaigns).where(campaigns.c.id == c.id).values(status=status, updated_at=at))
    _ACTIVE.invalidate(conn)
    return public(conn, _row(conn, campaign_id))


def get_campaign(conn: Connection, campaign_id: str) -> dict[str, Any]:
    return public(conn, _row(conn, campaign_id))


def list_campaigns(
    conn: Connection, *, status: str | None = None, limit: int = 20, starting_after: str | None = None
) -> tuple[list[dict[str, Any]], bool]:
    where = [campaigns.c.status == status] if status else []
    return cursor_page(
        conn, campaigns, where, limit=limit, starting_after=starting_after, public=lambda r: public(conn, r)
    )


def versions(conn: Connection, campaign_id: str) -> list[dict[str, Any]]:
    _row(conn, campaign_id)
    return [
        {"version": v.version, "rules": v.rules, "created_at": v.created_at}
        for v in conn.execute(
            select(campaign_versions)
            .where(campaign_versions.c.campaign_id == campaign_id)
            .order_by(campaign_versions.c.version)
        )
    ]


def add_circle_merchants(
    conn: Connection, circle_id: str, merchant_ids: Sequence[str], *, at: dt.datetime | None = None
) -> int:
    """Designate merchants to a commerce circle of the county profile (campaigns may target circles)."""
    at = at or clock.now()
    if circle_id not in {c.id for c in county().commerce_circles}:
        raise InvalidRequest(f"未知商贸圈 / unknown commerce circle {circle_id!r}", param="circle_id")
    if not merchant_ids or len(merchant_ids) > 1000:
        raise InvalidRequest("give 1–1000 merchant ids", param="merchant_ids")
    from zhifu.merchants import merchant_row

    for i, mid in enumerate(merchant_ids):
        try:
            merchant_row(conn, mid)
        except NotFound as exc:
            raise InvalidRequest(f"merchant_ids.{i}: no merchant {mid}", param=f"merchant_ids.{i}") from exc
    _upsert_ignore(
        conn,
        circle_merchants,
        [{"circle_id": circle_id, "merchant_id": m, "created_at": at} for m in dict.fromkeys(merchant_ids)],
    )
    return len(set(merchant_ids))


# ---------------------------------------------------------------- rules in force

_RULES_CACHE: dict[tuple[str, int], Rules] = {}
_RULES_CACHE_MAX = 1024


def _rules(conn: Connection, campaign_id: str, version: int) -> Rules:
    # Versions never change once written, so parsed rules can be kept by (campaign, version).
    key = (campaign_id, version)
    r = _RULES_CACHE.get(key)
    if r is None:
        doc = conn.execute(
            select(campaign_versions.c.rules).where(
                and_(campaign_versions.c.campaign_id == campaign_id, campaign_versions.c.version == version)
            )
        ).scalar_one()
        if len(_RULES_CACHE) >= _RULES_CACHE_MAX:
            _RULES_CACHE.clear()
        r = _RULES_CACHE[key] = rules_of(doc)
    return r


def _version_at(conn: Connection, campaign_id: str, at: dt.datetime) -> tuple[int, Rules] | None:
    v = conn.execute(
        select(campaign_versions.c.version)
        .where(and_(campaign_versions.c.campaign_id == campaign_id, campaign_versions.c.created_at <= at))
        .order_by(campaign_versions.c.version.desc())
        .limit(1)
    ).scalar_one_or_none()
    if v is None:
        return None
    return v, _rules(conn, campaign_id, v)


def _load_active(conn: Connection) -> Sequence[Any]:
    return conn.execute(
        select(campaigns)
        .where(campaigns.c.status == CampaignStatus.ACTIVE)
        .order_by(campaigns.c.created_at, campaigns.c.id)
    ).all()


# Every payment asks which campaigns are active: the answer is kept by the process, dropped by every change to a
# campaign row here (and after its commit), and reread within the cache's TTL when another process changed it.
# A draw on a budget locks and rereads its campaign row first (_lock_campaign), so a stale row never grants.
_ACTIVE: EngineCache[Sequence[Any]] = EngineCache(_load_active)


def _active(conn: Connection) -> Sequence[Any]:
    return _ACTIVE.get(conn)


def _county_rural() -> frozenset[str]:
    return frozenset(i.id for i in county().institutions if i.is_county_rural)


# ---------------------------------------------------------------- granting under caps and budget


def _lock_campaign(conn: Connection, campaign_id: str) -> Any:
    """Every draw on a budget locks its campaign row first, so a budget read and the hold or entry that
    follows cannot interleave with another draw (SQLite serialises writers already)."""
    return _row(conn, campaign_id, lock=True)


def _counter_keys(
    campaign_id: str, rules: Rules, payer_key: str | None, merchant_id: str, day: str
) -> list[tuple[str, str, str, int | None, int | None]]:
    """The counters the rules cap; scopes without a cap keep no counter (a cap added by a later version counts
    from then on)."""
    keys: list[tuple[str, str, str, int | None, int | None]] = []
    if payer_key and (rules.per_payer_day_fen is not None or rules.per_payer_day_count is not None):
        keys.append(("payer_day", payer_key, day, rules.per_payer_day_fen, rules.per_payer_day_count))
    if payer_key and rules.per_payer_campaign_fen is not None:
        keys.append(("payer_campaign", payer_key, "*", rules.per_payer_campaign_fen, None))
    if rules.per_merchant_day_fen is not None:
        keys.append(("merchant_day", merchant_id, day, rules.per_merchant_day_fen, None))
    return keys


def _grant(
    conn: Connection,
    campaign_id: str,
    rules: Rules,
    want_fen: int,
    *,
    payer_key: str | None,
    merchant_id: str,
    day: str,
    hit: bool,
) -> tuple[int, bool]:
    """The most of `want_fen` the budget and the caps allow (what is left when less than wanted), with the
    counters moved; also whether a payer's cap cut it. The caller holds the campaign row lock."""
    if payer_key is None and (
        rules.per_payer_day_fen or rules.per_payer_day_count or rules.per_payer_campaign_fen
    ):
        return 0, False  # a per-payer cap cannot be kept for an unknown payer
    left = ledger.get_balance(conn, budget_account(campaign_id)).available_fen
    grant = max(0, min(want_fen, left))
    keys = _counter_keys(campaign_id, rules, payer_key, merchant_id, day)
    if not keys:
        return grant, False
    _upsert_ignore(
        conn,
        campaign_counters,
        [
            {"campaign_id": campaign_id, "scope": s, "subject": subj, "day": d, "used_fen": 0, "hits": 0}
            for s, subj, d, _, _ in keys
        ],
    )
    capped = False
    rows = {}
    for scope, subject, d, cap, hits_cap in sorted(keys):
        q = select(campaign_counters.c.used_fen, campaign_counters.c.hits).where(
            and_(
                campaign_counters.c.campaign_id == campaign_id,
                campaign_counters.c.scope == scope,
                campaign_counters.c.subject == subject,
                campaign_counters.c.day == d,
            )
        )
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()
        used, hits = conn.execute(q).one()
        rows[(scope, subject, d)] = (used, hits)
        if cap is not None and cap - used < grant:
            grant = max(0, cap - used)
            capped = capped or scope.startswith("payer")
        if hit and hits_cap is not None and hits + 1 > hits_cap:
            grant = 0
            capped = True
    if grant <= 0:
        return 0, capped
    for scope, subject, d, cap, hits_cap in sorted(keys):
        where = [
            campaign_counters.c.campaign_id == campaign_id,
            campaign_counters.c.scope == scope,
            campaign_counters.c.subject == subject,
            campaign_counters.c.day == d,
        ]
        if cap is not None:
            where.append(campaign_counters.c.used_fen + grant <= cap)
        if hit and hits_cap is not None:
            where.append(campaign_counters.c.hits + 1 <= hits_cap)
        res = conn.execute(
            update(campaign_counters)
            .where(and_(*where))
            .values(
                used_fen=campaign_counters.c.used_fen + grant,
                hits=campaign_counters.c.hits + (1 if hit else 0),
            )
        )
        if res.rowcount != 1:  # cannot happen under the campaign lock; refuse rather than pass a cap
            raise ConflictError(f"campaign {campaign_id}: {scope} cap moved; retry", code="campaign_cap_race")
    return grant, capped


def _give_back(conn: Connection, campaign_id: str, award: Any, amount_fen: int, hit: bool) -> None:
    for scope, subject, d in (
        ("payer_day", award.payer_key, award.day),
        ("payer_campaign", award.payer_key, "*"),
        ("merchant_day", award.merchant_id, award.day),
    ):
        if subject is None:
            continue
        conn.execute(
            update(campaign_counters)
            .where(
                and_(
                    campaign_counters.c.campaign_id == campaign_id,
                    campaign_counters.c.scope == scope,
                    campaign_counters.c.subject == subject,
                    campaign_counters.c.day == d,
                    campaign_counters.c.used_fen >= amount_fen,
                )
            )
            .values(
                used_fen=campaign_counters.c.used_fen - amount_fen,
                hits=campaign_counters.c.hits - (1 if hit else 0),
            )
        )


def _flag(
    conn: Connection,
    campaign_id: str,
    kind: str,
    payer_key: str,
    merchant_id: str,
    day: str,
    payments: int,
    detail: str,
    at: dt.datetime,
) -> None:
    _upsert_ignore(
        conn,
        campaign_flags,
        [
            {
                "campaign_id": campaign_id,
                "kind": kind,
                "payer_key": payer_key,
                "merchant_id": merchant_id,
                "day": day,
                "payments": payments,
                "detail": detail[:200],
                "created_at": at,
                "updated_at": at,
            }
        ],
    )
    conn.execute(
        update(campaign_flags)
        .where(
            and_(
                campaign_flags.c.campaign_id == campaign_id,
                campaign_flags.c.kind == kind,
                campaign_flags.c.payer_key == payer_key,
                campaign_flags.c.merchant_id == merchant_id,
                campaign_flags.c.day == day,
                campaign_flags.c.payments < payments,
            )
        )
        .values(payments=payments, detail=detail[:200], updated_at=at)
    )


def _check_split(
    conn: Connection, campaign_id: str, payer_key: str, merchant_id: str, day: str, at: dt.datetime
) -> None:
    """A payer with several discounted payments at one merchant within minutes is splitting a purchase."""
    since = at - dt.timedelta(seconds=SPLIT_WINDOW_S)
    n = conn.execute(
        select(func.count())
        .select_from(campaign_awards)
        .where(
            and_(
                campaign_awards.c.payer_key == payer_key,
                campaign_awards.c.merchant_id == merchant_id,
                campaign_awards.c.kind == "discount",
                campaign_awards.c.status != "released",
                campaign_awards.c.created_at > since,
            )
        )
    ).scalar_one()
    if n + 1 >= SPLIT_COUNT:
        _flag(
            conn,
            campaign_id,
            "split_purchase",
            payer_key,
            merchant_id,
            day,
            n + 1,
            f"{n + 1} discounted payments within {SPLIT_WINDOW_S // 60} minutes",
            at,
        )


# ---------------------------------------------------------------- at payment time


class PayerHint(BaseModel):
    """What the cashier knows of the payer before paying: the app's payer id and the card, when known."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, min_length=1, max_length=64)
    issuer: str | None = Field(default=None, max_length=40)
    card_type: Literal["debit", "credit", "wallet"] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Pricing:
    discount_fen: int = 0
    campaign_ref: str | None = None  # "<campaign id>:v<version>"
    hold_id: str | None = None


NO_DISCOUNT = Pricing()


def _merchant_ctx(conn: Connection, m: Any, candidates: Sequence[Rules]) -> tuple[str, str, frozenset[str]]:
    circles: frozenset[str] = frozenset()
    if any(r.circles for r in candidates):  # only read memberships when a rule names circles
        circles = frozenset(
            conn.execute(
                select(circle_merchants.c.circle_id).where(circle_merchants.c.merchant_id == m.id)
            ).scalars()
        )
    return m.mcc, m.town_code, circles


def _is_new_payer(conn: Connection, payer_key: str | None, candidates: Sequence[Rules]) -> bool | None:
    if payer_key is None or not any(r.new_payers_only for r in candidates):
        return None
    return (
        conn.execute(
            select(incentive_payers.c.payer_key).where(incentive_payers.c.payer_key == payer_key)
        ).first()
        is None
    )


def price_payment(
    conn: Connection,
    m: Any,
    amount_fen: int,
    channel: str,
    payer: PayerHint | None,
    at: dt.datetime,
    *,
    payment_id: str,
    expires_at: dt.datetime,
) -> Pricing:
    """Decide the instant discount of a payment being created and hold it on the campaign's budget.

    The first active campaign (oldest first) with a discount whose rules match decides; the draw is
    deterministic from its seed and the payment id. When the budget or a cap has less left than drawn, what is
    left is given; a payment never fails for want of budget."""
    active = _active(conn)
    if not active:
        return NO_DISCOUNT
    payer = payer or PayerHint()
    candidates = [(c, r) for c in active if (r := _rules(conn, c.id, c.version)).discount is not None]
    if not candidates:
        return NO_DISCOUNT
    wanted = [r for _, r in candidates]
    mcc, town, circles = _merchant_ctx(conn, m, wanted)
    ctx = Context(
        m.id,
        mcc,
        town,
        circles,
        channel,
        amount_fen,
        at,
        payer.id,
        payer.issuer,
        payer.card_type,
        _is_new_payer(conn, payer.id, wanted),
    )
    rural = _county_rural()
    for c, rules in candidates:
        if matches(rules, ctx, rural) is not None:
            continue
        if rules.discount is None:  # kept out of the candidates above; said again for the type checker
            continue
        drawn = draw_discount(rules.discount, c.seed, payment_id, amount_fen)
        if drawn <= 0:
            return NO_DISCOUNT
        c = _lock_campaign(conn, c.id)
        if c.status != CampaignStatus.ACTIVE:
            return NO_DISCOUNT
        day = _day(at)
        grant, capped = _grant(
            conn, c.id, rules, drawn, payer_key=payer.id, merchant_id=m.id, day=day, hit=True
        )
        if capped and payer.id:
            _flag(conn, c.id, "cap_reached", payer.id, m.id, day, 1, "per-payer cap reached", at)
        if grant <= 0:
            return NO_DISCOUNT
        if payer.id:
            _check_split(conn, c.id, payer.id, m.id, day, at)
        timeout_s = int((expires_at - at).total_seconds()) + HOLD_MARGIN_S
        debit, credit = ledger.movements.campaign_discount_hold(campaign_id=c.id, amount_fen=grant)
        h = ledger.hold(
            conn,
            ledger.keys.campaign_discount(payment_id),
            debit.account,
            credit.account,
            grant,
            timeout_s=timeout_s,
            description=f"instant discount on {payment_id}",
            at=at,
        )
        conn.execute(
            campaign_awards.insert(),
            [
                {
                    "merchant_id": m.id,
                    "payment_id": payment_id,
                    "campaign_id": c.id,
                    "kind": "discount",
                    "version": c.version,
                    "amount_fen": grant,
                    "clawed_back_fen": 0,
                    "status": "held",
                    "hold_id": h.id,
                    "payer_key": payer.id,
                    "town_code": town,
                    "acquirer_id": m.acquirer_id,
                    "day": day,
                    "created_at": at,
                    "updated_at": at,
                }
            ],
        )
        return Pricing(grant, f"{c.id}:v{c.version}", h.id)
    return NO_DISCOUNT


def _discount_award(conn: Connection, payment_id: str) -> Any:
    return conn.execute(
        select(campaign_awards).where(
            and_(campaign_awards.c.payment_id == payment_id, campaign_awards.c.kind == "discount")
        )
    ).first()


# ---------------------------------------------------------------- on success, failure, close, expiry


@dataclasses.dataclass(frozen=True, slots=True)
class SuccessNote:
    """A payment that succeeded, as `note_successes` keeps it."""

    merchant_id: str
    payment_id: str
    payer_ref: str | None
    amount_fen: int
    at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Benefits:
    """What a successful payment gets: whether its fee is waived, and the campaign clearing account its success
    entry takes the discount from (None without a discount)."""

    fee_waived: bool = False
    discount_from: str | None = None
    cost_refund_fen: int = 0
    subsidy_fen: int = 0


def on_success(
    conn: Connection,
    p: Any,
    *,
    payer_ref: str | None,
    issuer: str | None,
    card_type: str | None,
    at: dt.datetime,
    cost_fen: int | None = None,
) -> Benefits:
    """Settle a payment's campaign benefits as it succeeds, before its success entry is posted.

    The discount hold is posted (budget → clearing; the success entry takes it from clearing to the merchant).
    Cost refund, subsidy and fee waiver are decided now, when the payer's card is known, by the rules version in
    force when the payment was created; cost refund and subsidy accrue to what the programme owes the merchant's
    acquirer (DR campaign budget, CR incentive_payable:<acquirer>), paid out by `pay_out_accruals`."""
    award = _discount_award(conn, p.id) if p.discount_fen else None
    discount_from = _discount_clearing(conn, p, award, at) if p.discount_fen else None
    fee_waived, cost_refund, subsidy = _accrue(
        conn, p, payer_ref=payer_ref, issuer=issuer, card_type=card_type, at=at, cost_fen=cost_fen
    )
    _note_success(conn, p, payer_ref, at)
    return Benefits(fee_waived, discount_from, cost_refund, subsidy)


def _discount_clearing(conn: Connection, p: Any, award: Any, at: dt.datetime) -> str:
    """Post the discount's hold; if it is gone (voided, expired), draw the discount again, and book what the
    budget can no longer cover as the acquirer's expense rather than fail a payment the payer made."""
    if award is None:  # priced outside this module: only possible with a hand-made discount
        raise ConflictError(
            f"payment {p.id} has a discount but no campaign award", code="discount_without_award"
        )
    c = _lock_campaign(conn, award.campaign_id)
    clearing = clearing_account(c.id)
    h = ledger.get_hold(conn, award.hold_id)
    if h.status == "pending" and h.expires_at > at:
        ledger.post_hold(conn, award.hold_id, at=at, description=f"instant discount on {p.id}")
    else:
        if h.status == "pending":
            ledger.expire_holds(conn, at=at)
        left = max(0, ledger.get_balance(conn, budget_account(c.id)).available_fen)
        take = min(left, p.discount_fen)
        if p.discount_fen - take:
            ledger.open_account(conn, SHORTFALL, "expense")
        legs = ledger.movements.campaign_late_discount(
            campaign_id=c.id, discount_fen=p.discount_fen, from_budget_fen=take
        )
        ledger.post_entry(
            conn,
            ledger.EntryRequest(
                ledger.keys.campaign_late_discount(p.id), legs, f"instant discount on {p.id} (hold lapsed)"
            ),
            at=at,
        )
    _mark_discount(conn, p.merchant_id, p.id, "posted", at)
    return clearing


def _mark_discount(conn: Connection, merchant_id: str, payment_id: str, status: str, at: dt.datetime) -> None:
    """Set the status of a payment's discount award (posted with its success, released when it fails)."""
    a = campaign_awards.c
    conn.execute(
        update(campaign_awards)
        .where(and_(a.merchant_id == merchant_id, a.payment_id == payment_id, a.kind == "discount"))
        .values(status=status, updated_at=at)
    )


def _accrue(
    conn: Connection,
    p: Any,
    *,
    payer_ref: str | None,
    issuer: str | None,
    card_type: str | None,
    at: dt.datetime,
    cost_fen: int | None,
) -> tuple[bool, int, int]:
    active = _active(conn)
    if not active:
        return False, 0, 0
    from zhifu.merchants import merchant_row

    candidates = []
    for c in active:
        found = _version_at(conn, c.id, p.created_at)
        if found is not None and (found[1].fee_waiver or found[1].cost_refund or found[1].subsidy_ppm):
            candidates.append((c, *found))
    if not candidates:
        return False, 0, 0
    wanted = [r for _, _, r in candidates]
    m = merchant_row(conn, p.merchant_id)
    mcc, town, circles = _merchant_ctx(conn, m, wanted)
    payer_key = payer_ref
    ctx = Context(
        m.id,
        mcc,
        town,
        circles,
        p.channel,
        p.amount_fen,
        p.created_at,
        payer_key,
        issuer,
        card_type,
        _is_new_payer(conn, payer_key, wanted),
    )
    rural = _county_rural()
    waived = False
    cost_refund = subsidy = 0
    accrued = False
    day = _day(at)
    for c, version, rules in candidates:
        if matches(rules, ctx, rural) is not None:
            continue
        base = {
            "merchant_id": m.id,
            "payment_id": p.id,
            "campaign_id": c.id,
            "version": version,
            "clawed_back_fen": 0,
            "status": "posted",
            "hold_id": None,
            "payer_key": payer_key,
            "town_code": town,
            "acquirer_id": m.acquirer_id,
            "day": day,
            "created_at": at,
            "updated_at": at,
        }
        if rules.fee_waiver and not waived:
            waived = True
            conn.execute(campaign_awards.insert(), [{**base, "kind": "fee_waiver", "amount_fen": 0}])
        if (rules.cost_refund or rules.subsidy_ppm) and not accrued:
            accrued = True
            cost = 0
            if rules.cost_refund:
                cost = cost_fen if cost_fen is not None else _channel_cost(conn, p, card_type)
            want_sub = ppm_of(p.amount_fen, rules.subsidy_ppm)
            _lock_campaign(conn, c.id)
            grant, _ = _grant(
                conn, c.id, rules, cost + want_sub, payer_key=payer_key, merchant_id=m.id, day=day, hit=False
            )
            cost_refund = min(cost, grant)
            subsidy = grant - cost_refund
            if grant:
                acc = incentive_payable_account(m.acquirer_id)
                ledger.open_account(conn, acc, "liability")
                legs = ledger.movements.campaign_award(
                    campaign_id=c.id, acquirer_id=m.acquirer_id, amount_fen=grant
                )
                ledger.post_entry(
                    conn,
                    ledger.EntryRequest(
                        ledger.keys.campaign_accrual(p.id, c.id),
                        legs,
                        f"cost refund {cost_refund} + subsidy {subsidy} on {p.id}",
                    ),
                    at=at,
                )
            rows = [
                {**base, "kind": kind, "amount_fen": amt}
                for kind, amt in (("cost_refund", cost_refund), ("subsidy", subsidy))
                if amt
            ]
            if rows:
                conn.execute(campaign_awards.insert(), rows)
    return waived, cost_refund, subsidy


def _channel_cost(conn: Connection, p: Any, card_type: str | None) -> int:
    """The acquirer's cost of the payment as the success entry books it: the fee plans' cost table on what the
    payer paid through the rail, never more than that."""
    payable = p.amount_fen - p.discount_fen
    try:
        return min(payment_cost(conn, p.channel, card_type, payable).total_fen, payable)
    except InvalidRequest:
        return 0


def _note_success(conn: Connection, p: Any, payer_ref: str | None, at: dt.datetime) -> None:
    """Keep the payers seen (for new-payer rules) and the per-merchant daily rollup (for the effect view)."""
    if payer_ref:
        _upsert_ignore(
            conn,
            incentive_payers,
            [{"payer_key": payer_ref[:64], "first_payment_id": p.id, "first_paid_at": at}],
        )
    slot = connection_slot(conn, MERCHANT_DAY_SLOTS)  # concurrent payments add to different rows
    _add_to_merchant_days(conn, {(p.merchant_id, _day(at), slot): [1, p.amount_fen]})


@functools.cache
def _add_to_merchant_days_sql(dialect_name: str) -> Executable:
    """The merchant-day upsert, built once per dialect (every payment's success runs it)."""
    stmt = (postgresql if dialect_name == "postgresql" else sqlite).insert(merchant_days)
    return stmt.on_conflict_do_update(
        index_elements=[merchant_days.c.merchant_id, merchant_days.c.day, merchant_days.c.slot],
        set_={
            "payments": merchant_days.c.payments + stmt.excluded.payments,
            "amount_fen": merchant_days.c.amount_fen + stmt.excluded.amount_fen,
        },
    )


def _add_to_merchant_days(conn: Connection, days: dict[tuple[str, str, int], list[int]]) -> None:
    """Add payments and amounts to the merchant-day rollup's slots (merchant, day, slot), in key order."""
    if not days:
        return
    conn.execute(
        _add_to_merchant_days_sql(conn.dialect.name),
        [
            {"merchant_id": m, "day": d, "slot": slot, "payments": n, "amount_fen": a}
            for (m, d, slot), (n, a) in sorted(days.items())
        ],
    )


def merchant_day_totals(conn: Connection, merchant_id: str) -> list[tuple[str, int, int]]:
    """A merchant's successful payments per day (Beijing date, payments, amount in fen), oldest first."""
    q = (
        select(merchant_days.c.day, func.sum(merchant_days.c.payments), func.sum(merchant_days.c.amount_fen))
        .where(merchant_days.c.merchant_id == merchant_id)
        .group_by(merchant_days.c.day)
        .order_by(merchant_days.c.day)
    )
    return [(day, int(n), int(a)) for day, n, a in conn.execute(q)]


def note_successes(conn: Connection, successes: Sequence[SuccessNote]) -> None:
    """What `on_success` keeps of every payment, for many recorded at once (the simulator's batch path): the
    payers seen, each with its earliest payment, and the per-merchant daily rollup, added to. The rows go to the
    driver as they are stored (the same statements `_upsert_ignore` and `_add_to_merchant_days` make), without
    SQLAlchemy's per-row work: a batch holds thousands."""
    payers: dict[str, tuple[str, dt.datetime]] = {}
    days: dict[tuple[str, str, int], list[int]] = {}
    for s in successes:
        if s.payer_ref:
            key = s.payer_ref[:64]
            seen = payers.get(key)
            if seen is None or s.at < seen[1]:
                payers[key] = (s.payment_id, s.at)
        k = (s.merchant_id, _day(s.at), 0)  # one writer: one slot
        day = days.get(k)
        if day is None:
            day = days[k] = [0, 0]
        day[0] += 1
        day[1] += s.amount_fen
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    stamp = utc_bind(conn.dialect)
    if payers:
        conn.exec_driver_sql(
            f"INSERT INTO {incentive_payers.name} (payer_key, first_payment_id, first_paid_at) "
            f"VALUES ({mark}, {mark}, {mark}) ON CONFLICT DO NOTHING",
            [(key, pid, stamp(at)) for key, (pid, at) in payers.items()],
        )
    if days:
        t = merchant_days.name
        conn.exec_driver_sql(
            f"INSERT INTO {t} (merchant_id, day, slot, payments, amount_fen) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark}) ON CONFLICT (merchant_id, day, slot) DO UPDATE SET "
            f"payments = {t}.payments + excluded.payments, amount_fen = {t}.amount_fen + excluded.amount_fen",
            [(m, d, slot, n, a) for (m, d, slot), (n, a) in sorted(days.items())],
        )


def campaigns_running(conn: Connection, start: dt.datetime, end: dt.datetime) -> list[str]:
    """The active campaigns whose window meets [start, end]: those that would price a payment made then."""
    return [
        c.id
        for c in _active(conn)
        if (r := _rules(conn, c.id, c.version)).starts_at <= end and r.ends_at > start
    ]


def on_release(conn: Connection, p: Any, at: dt.datetime) -> None:
    """A payment failed, was closed or expired: release its discount hold and give the caps back."""
    if not p.discount_fen:
        return
    award = _discount_award(conn, p.id)
    if award is None or award.status != "held":
        return
    _lock_campaign(conn, award.campaign_id)
    h = ledger.get_hold(conn, award.hold_id)
    if h.status == "pending":
        if h.expires_at > at:
            ledger.void_hold(conn, award.hold_id, at=at)
        else:
            ledger.expire_holds(conn, at=at)
    _give_back(conn, award.campaign_id, award, award.amount_fen, True)
    _mark_discount(conn, award.merchant_id, p.id, "released", at)


# ---------------------------------------------------------------- refunds


def refund_clawback(conn: Connection, p: Any, refund_id: str, refund_fen: int, *, at: dt.datetime) -> int:
    """The discount share of a refund, which goes back to the campaign's budget; the payer's rail returns the
    rest. Cumulative, like the fee share: over any sequence of refunds the shares sum to the discount."""
    if not p.discount_fen:
        return 0
    share = refund_fee_share(p.discount_fen, p.amount_fen, p.refunded_fen, refund_fen)
    if refund_fen - share <= 0:
        raise InvalidRequest(
            f"退款过小，付款人应退金额为 0 / a refund of {refund_fen} fen returns nothing to the "
            "payer after the discount share; refund more",
            param="amount_fen",
            code="refund_too_small",
        )
    award = _discount_award(conn, p.id)
    if share and award is not None:
        conn.execute(
            campaign_clawbacks.insert(),
            [
                {
                    "merchant_id": p.merchant_id,
                    "refund_id": refund_id,
                    "payment_id": p.id,
                    "campaign_id": award.campaign_id,
                    "amount_fen": share,
                    "status": "pending",
                    "created_at": at,
                }
            ],
        )
    return share


def clawback_fen(conn: Connection, refund_id: str) -> int:
    """The discount share recorded for a refund (0 when the payment had none)."""
    v = conn.execute(
        select(campaign_clawbacks.c.amount_fen).where(campaign_clawbacks.c.refund_id == refund_id)
    ).scalar_one_or_none()
    return int(v or 0)


def clawbacks_for(conn: Connection, refund_ids: Sequence[str]) -> dict[str, int]:
    """The discount share of each of these refunds that has one (what the rail did not refund to the payer)."""
    out: dict[str, int] = {}
    ids = list(refund_ids)
    for start in range(0, len(ids), 500):
        for rid, amount in conn.execute(
            select(campaign_clawbacks.c.refund_id, campaign_clawbacks.c.amount_fen).where(
                campaign_clawbacks.c.refund_id.in_(ids[start : start + 500])
            )
        ):
            out[rid] = int(amount)
    return out


def take_clawback(conn: Connection, refund_id: str, at: dt.datetime) -> tuple[str, int] | None:
    """The budget a refund's success entry returns the discount share to, and that share (None without one);
    the share is marked taken."""
    cb = conn.execute(select(campaign_clawbacks).where(campaign_clawbacks.c.refund_id == refund_id)).first()
    if cb is None or cb.status != "pending" or not cb.amount_fen:
        return None
    conn.execute(
        update(campaign_clawbacks)
        .where(
            and_(
                campaign_clawbacks.c.merchant_id == cb.merchant_id,
                campaign_clawbacks.c.refund_id == refund_id,
            )
        )
        .values(status="posted")
    )
    conn.execute(
        update(campaign_awards)
        .where(
            and_(
                campaign_awards.c.merchant_id == cb.merchant_id,
                campaign_awards.c.payment_id == cb.payment_id,
                campaign_awards.c.kind == "discount",
            )
        )
        .values(clawed_back_fen=campaign_awards.c.clawed_back_fen + cb.amount_fen, updated_at=at)
    )
    return budget_account(cb.campaign_id), int(cb.amount_fen)


def claw_back_accruals(
    conn: Connection, p: Any, refund_id: str, refunded_fen: int, *, at: dt.datetime
) -> int:
    """A refund succeeded: return the payment's cost refund and subsidy to their campaign in proportion to what
    has been refunded so far (`refunded_fen`, this refund included). Cumulative, like the fee share: over any
    sequence of refunds the clawbacks sum to the accrual. What the programme owes the acquirer falls by it; an
    accrual already paid out leaves the acquirer's incentive account in debit, and the next payout is net of it.
    Returns the fen clawed back."""
    awards = conn.execute(
        select(campaign_awards)
        .where(
            and_(
                campaign_awards.c.merchant_id == p.merchant_id,
                campaign_awards.c.payment_id == p.id,
                campaign_awards.c.kind.in_(("cost_refund", "subsidy")),
                campaign_awards.c.status == "posted",
            )
        )
        .order_by(campaign_awards.c.campaign_id, campaign_awards.c.kind)
    ).all()
    total = 0
    for a in awards:
        target = refund_fee_share(a.amount_fen, p.amount_fen, 0, min(refunded_fen, p.amount_fen))
        back = target - a.clawed_back_fen
        if back <= 0:
            continue
        _lock_campaign(conn, a.campaign_id)
        legs = ledger.movements.campaign_award_clawback(
            campaign_id=a.campaign_id, acquirer_id=a.acquirer_id, amount_fen=back
        )
        ledger.post_entry(
            conn,
            ledger.EntryRequest(
                ledger.keys.campaign_clawback(refund_id, a.campaign_id, a.kind),
                legs,
                f"{a.kind} on {p.id} returned by refund {refund_id}",
            ),
            at=at,
        )
        conn.execute(
            update(campaign_awards)
            .where(
                and_(
                    campaign_awards.c.merchant_id == a.merchant_id,
                    campaign_awards.c.payment_id == a.payment_id,
                    campaign_awards.c.campaign_id == a.campaign_id,
                    campaign_awards.c.kind == a.kind,
                )
            )
            .values(clawed_back_fen=target, updated_at=at)
        )
        total += back
    return total


def on_refund_failed(conn: Connection, refund_id: str) -> None:
    conn.execute(
        update(campaign_clawbacks)
        .where(and_(campaign_clawbacks.c.refund_id == refund_id, campaign_clawbacks.c.status == "pending"))
        .values(status="voided")
    )


# ---------------------------------------------------------------- paying out accruals


class AccrualPayout(TypedDict):
    """What the programme paid an acquirer for the cost refunds and subsidies it had accrued."""

    acquirer_id: str
    amount_fen: int


def pay_out_accruals(conn: Connection, *, at: dt.datetime | None = None) -> list[AccrualPayout]:
    """For the settlement run: move what the programme owes each acquirer (cost refunds and subsidies accrued)
    to settlement in transit, one entry per acquirer per Asia/Shanghai day. Returns what was paid out."""
    at = at or clock.now()
    out: list[AccrualPayout] = []
    acquirers = (
        conn.execute(
            select(campaign_awards.c.acquirer_id)
            .distinct()
            .where(campaign_awards.c.kind.in_(("cost_refund", "subsidy")))
        )
        .scalars()
        .all()
    )
    for acq in sorted(acquirers):
        acc = incentive_payable_account(acq)
        owed = ledger.get_balance(conn, acc).available_fen
        if owed > 0:
            legs = ledger.movements.incentive_payout(acquirer_id=acq, amount_fen=owed)
            key = ledger.keys.incentive_payout(acq, at.astimezone(SHANGHAI).date())
            ledger.post_entry(conn, ledger.EntryRequest(key, legs, f"incentives paid out to {acq}"), at=at)
            out.append({"acquirer_id": acq, "amount_fen": owed})
    return out


# ---------------------------------------------------------------- reports


def _spent() -> Any:
    return func.coalesce(func.sum(campaign_awards.c.amount_fen - campaign_awards.c.clawed_back_fen), 0)


def report(conn: Connection, campaign_id: str) -> dict[str, Any]:
    """Spend per day, per town, per merchant and per benefit; remaining budget; payers reached; flags."""
    c = _row(conn, campaign_id)
    posted = and_(campaign_awards.c.campaign_id == campaign_id, campaign_awards.c.status == "posted")
    spent = _spent()

    def by(col: Any) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(col, spent, func.count(distinct(campaign_awards.c.payment_id)))
            .where(posted)
            .group_by(col)
            .order_by(col)
            .limit(REPORT_ROWS_MAX)
        )
        return [{"key": k, "spent_fen": int(s), "payments": int(n)} for k, s, n in rows]

    bal = ledger.get_balance(conn, budget_account(campaign_id))
    payers = conn.execute(
        select(func.count(distinct(campaign_awards.c.payer_key))).where(posted)
    ).scalar_one()
    flags = conn.execute(
        select(campaign_flags.c.kind, func.count())
        .where(campaign_flags.c.campaign_id == campaign_id)
        .group_by(campaign_flags.c.kind)
    ).all()
    return {
        "object": "campaign_report",
        "campaign_id": campaign_id,
        "name": c.name,
        "funder": c.funder,
        "status": c.status,
        "funded_fen": c.funded_fen,
        "remaining_fen": bal.available_fen,
        "reserved_fen": bal.pending_debits_fen,
        "spent_fen": int(conn.execute(select(spent).where(posted)).scalar_one()),
        "payers_reached": int(payers),
        "by_kind": by(campaign_awards.c.kind),
        "by_day": by(campaign_awards.c.day),
        "by_town": by(campaign_awards.c.town_code),
        "by_merchant": by(campaign_awards.c.merchant_id),
        "flags": {k: int(n) for k, n in flags},
    }


def report_by_funder(conn: Connection) -> list[dict[str, Any]]:
    """Funded, spent and remaining per funder, over all campaigns."""
    funded = dict(
        conn.execute(
            select(campaigns.c.funder, func.sum(campaigns.c.funded_fen)).group_by(campaigns.c.funder)
        ).all()
    )
    spent: dict[str, int] = dict(
        conn.execute(
            select(campaigns.c.funder, _spent())
            .select_from(campaign_awards.join(campaigns, campaigns.c.id == campaign_awards.c.campaign_id))
            .where(campaign_awards.c.status == "posted")
            .group_by(campaigns.c.funder)
        ).all()
    )
    out = []
    for funder in sorted(funded):
        remaining = sum(
            ledger.get_balance(conn, budget_account(cid)).available_fen
            for cid in conn.execute(select(campaigns.c.id).where(campaigns.c.funder == funder)).scalars()
        )
        out.append(
            {
                "funder": funder,
                "funded_fen": int(funded[funder]),
                "spent_fen": int(spent.get(funder, 0)),
                "remaining_fen": remaining,
            }
        )
    return out


def effect(conn: Connection, campaign_id: str, *, days: int = 14) -> dict[str, Any]:
    """Payments per merchant per day in the `days` before and after the campaign started: the campaign's
    merchants (those given a benefit) against every other merchant that took payments."""
    if not 1 <= days <= 366:
        raise InvalidRequest("days must be 1–366", param="days")
    _row(conn, campaign_id)
    first = conn.execute(
        select(campaign_versions.c.rules).where(
            and_(campaign_versions.c.campaign_id == campaign_id, campaign_versions.c.version == 1)
        )
    ).scalar_one()
    start = rules_of(first).starts_at.astimezone(SHANGHAI).date()
    before = ((start - dt.timedelta(days=days)).isoformat(), start.isoformat())
    after = (start.isoformat(), (start + dt.timedelta(days=days)).isoformat())
    ours = set(
        conn.execute(
            select(campaign_awards.c.merchant_id)
            .distinct()
            .where(campaign_awards.c.campaign_id == campaign_id)
        ).scalars()
    )
    totals: dict[tuple[bool, str], list[int]] = {}
    merchants: dict[bool, set[str]] = {True: set(), False: set()}
    for mid, day, n in conn.execute(
        select(merchant_days.c.merchant_id, merchant_days.c.day, merchant_days.c.payments).where(
            and_(merchant_days.c.day >= before[0], merchant_days.c.day < after[1])
        )
    ):
        group = mid in ours
        merchants[group].add(mid)
        period = "before" if day < start.isoformat() else "after"
        totals.setdefault((group, period), [0])[0] += int(n)

    def per_merchant_day(group: bool, period: str) -> float:
        n = len(merchants[group])
        return round(totals.get((group, period), [0])[0] / (n * days), 3) if n else 0.0

    return {
        "object": "campaign_effect",
        "campaign_id": campaign_id,
        "start": start.isoformat(),
        "days": days,
        "campaign_merchants": {
            "merchants": len(merchants[True]),
            "before_per_merchant_day": per_merchant_day(True, "before"),
            "after_per_merchant_day": per_merchant_day(True, "after"),
        },
        "other_merchants": {
            "merchants": len(merchants[False]),
            "before_per_merchant_day": per_merchant_day(False, "before"),
            "after_per_merchant_day": per_merchant_day(False, "after"),
        },
    }


def list_flags(conn: Connection, campaign_id: str | None = None, *, limit: int = 50) -> list[dict[str, Any]]:
    """Abuse flags for the risk monitor, newest first."""
    q = select(campaign_flags).order_by(campaign_flags.c.id.desc()).limit(page_limit(limit))
    if campaign_id:
        q = q.where(campaign_flags.c.campaign_id == campaign_id)
    return [
        {
            "campaign_id": f.campaign_id,
            "kind": f.kind,
            "payer_key": f.payer_key,
            "merchant_id": f.merchant_id,
            "day": f.day,
            "payments": f.payments,
            "detail": f.detail,
            "created_at": f.created_at,
        }
        for f in conn.execute(q)
    ]
