"""Building blocks for transit tests: an operator on a merchant of its own, lines, validators, riders, taps,
and the simulated payer completing a payment."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from typing import Any

from tests.factories import application
from zhifu.core.clock import SHANGHAI
from zhifu.db import Database
from zhifu.merchants import MerchantApplication
from zhifu.merchants import service as merchants
from zhifu.payments import ensure_platform_accounts
from zhifu.transit import scenic, service

_rng = random.Random(19)
_seq = itertools.count(1)
GOOD_PAYCODE = "6212345678901234561"  # 云闪付; the simulated rail declines codes ending in 8
DECLINED_PAYCODE = "6212345678901234568"


def sh(y: int, mo: int, d: int, h: int = 8, mi: int = 0, s: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, s, tzinfo=SHANGHAI)


def operator(
    db: Database,
    kind: str = "bus",
    *,
    daily_cap_fen: int | None = 400,
    monthly_cap_fen: int | None = 8_000,
    concessions: dict[str, int] | None = None,
    op_id: str | None = None,
) -> dict[str, Any]:
    """An active merchant with an operator on it."""
    mcc = {"scenic": "7991"}.get(kind, "4111")
    with db.tx() as c:
        ensure_platform_accounts(c)
        name = f"沂源县{kind}运营公司{next(_seq)}"
        m = merchants.apply(
            c,
            MerchantApplication(
                **application(
                    type="enterprise",
                    mcc=mcc,
                    legal_name=name,
                    settle_account_name=name,
                    short_name="运营公司",
                )
            ),
        )
        merchants.review(c, m["id"], "approve")
        return service.register_operator(
            c,
            service.OperatorIn(
                id=op_id or f"{kind.replace('_', '-')}-{next(_seq)}",
                name=f"沂源县{kind}",
                kind=kind,
                merchant_id=m["id"],
                daily_cap_fen=daily_cap_fen if kind != "scenic" else None,
                monthly_cap_fen=monthly_cap_fen if kind != "scenic" else None,
                concessions=concessions
                if concessions is not None
                else {"student": 500_000, "elderly": 1_000_000},
            ),
        )


def line(db: Database, mid: str, line_id: str = "l1", *, fare_fen: int = 200, distance: bool = False) -> dict:
    with db.tx() as c:
        if distance:
            return service.add_line(
                c,
                mid,
                service.LineIn(
                    id=line_id,
                    name="县城—鲁村",
                    fare_mode="distance",
                    bands=[(5_000, 200), (15_000, 400), (40_000, 600)],
                    stops=[
                        service.StopIn(name=n, at_m=m)
                        for n, m in (("汽车站", 0), ("南麻", 3_000), ("悦庄", 12_000), ("鲁村", 30_000))
                    ],
                ),
            )
        return service.add_line(
            c, mid, service.LineIn(id=line_id, name=f"{line_id} 路", fare_mode="flat", flat_fare_fen=fare_fen)
        )


def validator(db: Database, mid: str, vid: str = "v1", line_id: str | None = "l1") -> dict:
    with db.tx() as c:
        return service.add_validator(c, mid, vid, line_id, "前门")


def rider(
    db: Database, *, channel: str = "unionpay_qr", token: str = GOOD_PAYCODE, category: str = "adult"
) -> dict:
    with db.tx() as c:
        return service.issue_rider(
            c, service.RiderIn(channel=channel, method_token=token, category=category, holder_name="张小明")
        )


def qr(db: Database, rider_id: str, at: dt.datetime, ttl_s: int = 86_400) -> str:
    with db.read() as c:
        return service.ride_token(c, rider_id, at=at, ttl_s=ttl_s)


def tap(tap_id: str, credential: str, at: dt.datetime, **kw: Any) -> dict[str, Any]:
    return {"id": tap_id, "credential": credential, "tapped_at": at, **kw}


def upload(
    db: Database,
    mid: str,
    vid: str,
    taps: list[dict[str, Any]],
    *,
    at: dt.datetime,
    validator_time: dt.datetime | None = None,
) -> dict[str, Any]:
    batch = service.TapBatch(validator_time=validator_time or at, taps=[service.TapIn(**t) for t in taps])
    return db.run(lambda c: service.upload_taps(c, mid, vid, batch, at=at))


def complete(db: Database, payment_id: str, outcome: str = "success") -> dict:
    """The simulated payer pays an open payment at its rail."""
    from zhifu.railsim.payer import Payer, sim_pay

    return sim_pay(db, payment_id, outcome=outcome, payer=Payer("parent", None, "debit"))


def scenic_area(
    db: Database,
    *,
    capacity: int = 100,
    ppm: int = 750_000,
    day: dt.date | None = None,
    at: dt.datetime | None = None,
) -> tuple[str, list[dict]]:
    op = operator(db, "scenic")
    mid = op["merchant_id"]
    with db.tx() as c:
        scenic.add_ticket_type(c, mid, scenic.TicketTypeIn(id="adult", name="成人票", price_fen=6_000))
        scenic.add_ticket_type(
            c, mid, scenic.TicketTypeIn(id="group", name="团体票", price_fen=4_500, group_min=10)
        )
        slots = scenic.add_slots(
            c,
            mid,
            scenic.SlotsIn(
                day=day or dt.date(2022, 6, 15),
                windows=["09:00-11:00", "11:00-13:00"],
                max_capacity=capacity,
                capacity_ppm=ppm,
            ),
            at=at,
        )
    return mid, slots
