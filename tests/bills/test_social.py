"""Resident social insurance on both backends: a payer pays the year's pension for two family members at one
tier, through the bill's payment path; the window, the tiers, the ages and double contributions are refused
naming the field, and a refused order writes nothing."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from tests.bills.helpers import complete, make_biller
from zhifu import ledger
from zhifu.bills import social
from zhifu.bills.gov_models import si_contributions
from zhifu.bills.models import bill_lines, bills
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.reference import generate_resident_id, mask_id

_rng = random.Random(1804)


def person(year: int = 1970) -> str:
    """A valid ID number of someone born in `year`."""
    return generate_resident_id(_rng, born_from=dt.date(year, 1, 1), born_to=dt.date(year, 12, 28))


def bureau(db):  # type: ignore[no-untyped-def]
    return make_biller(
        db,
        "social_insurance",
        name="沂源县社会保险事业中心",
        category="social_insurance",
        multiple_payments=False,
    )


def order(**kw):  # type: ignore[no-untyped-def]
    doc = {
        "scheme": "pension",
        "year": 2022,
        "tier_fen": 50_000,
        "members": [
            {"name": "王建国", "id_number": person(1968), "relation": "self"},
            {"name": "李秀英", "id_number": person(1970), "relation": "spouse"},
        ],
        "payer_phone": "13912345678",
        "channel": "unionpay_qr",
    }
    doc.update(kw)
    return social.ContributionIn(**doc)


def _counts(db) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with db.read() as c:
        return (
            c.execute(select(func.count()).select_from(si_contributions)).scalar_one(),
            c.execute(select(func.count()).select_from(bills)).scalar_one(),
            c.execute(select(func.count()).select_from(bill_lines)).scalar_one(),
        )


def test_tier_table_is_data_with_windows() -> None:
    p = social.plan("pension", 2022)
    assert p["tiers_fen"][0] == 30_000 and p["tiers_fen"][-1] == 500_000 and len(p["tiers_fen"]) == 10
    m = social.plan("medical", 2023)
    assert m["tiers_fen"] == [38_000] and str(m["opens"]) == "2022-09-01"
    assert {(x["scheme"], x["year"]) for x in social.open_plans(dt.date(2022, 6, 15))} == {("pension", 2022)}


def test_a_payer_pays_two_family_members_and_the_bureau_sees_them(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    bureau(db)
    req = order()
    out = social.contribute(db, req)
    assert out["status"] == "paying" and out["amount_fen"] == 100_000 and len(out["members"]) == 2
    # the payer's view is masked: no full ID number or name leaves the service
    assert out["members"][0]["id_number"] == mask_id(req.members[0].id_number) != req.members[0].id_number
    assert out["members"][1]["name"] == "李*英"
    complete(db, out["payment_id"])
    with db.read() as c:
        paid = social.get_order(c, out["id"])
        assert paid["status"] == "paid" and paid["receipt_no"]
        rows = social.list_contributions(c, "social_insurance", year=2022)
        assert [r["status"] for r in rows] == ["paid", "paid"]
        assert social.summary(c, "social_insurance") == [
            {
                "scheme": "pension",
                "scheme_label": "养老",
                "year": 2022,
                "tier_fen": 50_000,
                "persons": 2,
                "amount_fen": 100_000,
            }
        ]
        data, n = social.export_paid(c, "social_insurance", 2022, "pension")
        text = data.decode("utf-8-sig")
        assert (
            n == 2
            and req.members[0].id_number in text
            and "李秀英" in text
            and "城乡居民基本养老保险" in text
        )
        # no ID number is kept in plaintext in any table (encrypted, found by blind index)
        from zhifu.privacy.scan import scan_tables

        assert scan_tables(c, [m.id_number for m in req.members]) == []
        # the money reached the bureau's payable as any bill payment
        assert ledger.get_balance(c, "biller_payable:social_insurance").posted_fen == 100_000
    # the same person again in the same year: refused, naming the member
    again = order(members=[{"name": "王建国", "id_number": req.members[0].id_number}], tier_fen=30_000)
    before = _counts(db)
    with pytest.raises(ConflictError) as e:
        social.contribute(db, again)
    assert e.value.code == "already_contributed" and e.value.param == "members[0].id_number"
    assert _counts(db) == before


def test_an_unpaid_order_is_dropped_by_a_new_one_and_one_in_flight_refuses_it(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    bureau(db)
    req = order()
    first = social.contribute(db, req)
    with pytest.raises(ConflictError) as e:  # the first is still being paid
        social.contribute(db, order(members=[req.members[1].model_dump()]))
    assert e.value.code == "contribution_in_progress" and e.value.param == "members[0].id_number"
    fixed_clock.advance(seconds=901)  # the payer never scanned: the order expires unpaid
    from zhifu.payments import expire_due

    expire_due(db)
    # the expired order no longer holds its persons: a new order for one of them drops it
    second = social.contribute(db, order(members=[req.members[0].model_dump()], tier_fen=30_000))
    complete(db, second["payment_id"])
    with db.read() as c:
        assert social.get_order(c, second["id"])["status"] == "paid"
        assert social.get_order(c, first["id"])["status"] == "dropped"
        assert ledger.get_balance(c, "biller_payable:social_insurance").posted_fen == 30_000
    # a pay code the bank declines: the order is shown unpaid at once and holds nobody
    declined = social.contribute(
        db, order(members=[req.members[1].model_dump()], channel=None, auth_code="6212345678901234568")
    )
    assert declined["status"] == "unpaid" and declined["payment_status"] == "released"
    third = social.contribute(db, order(members=[req.members[1].model_dump()]))
    assert third["status"] == "paying"


def test_bad_orders_name_the_field_and_change_nothing(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    bureau(db)
    before = _counts(db)
    cases = [
        (order(scheme="medical", year=2022), ConflictError, "year", "collection_window_closed"),
        (
            order(scheme="medical", year=2023, tier_fen=38_000),
            ConflictError,
            "year",
            "collection_window_closed",
        ),
        (order(year=2040), InvalidRequest, "year", "no_tiers"),
        (order(tier_fen=60_000), InvalidRequest, "tier_fen", "unknown_tier"),
        (
            order(members=[{"name": "王", "id_number": "370323197001011234"}]),
            InvalidRequest,
            "members[0].id_number",
            None,
        ),
        (
            order(members=[{"name": "王小明", "id_number": person(2012), "relation": "child"}]),
            InvalidRequest,
            "members[0].id_number",
            "under_pension_age",
        ),
        (
            order(members=[{"name": "甲", "id_number": (x := person(1960))}, {"name": "乙", "id_number": x}]),
            InvalidRequest,
            "members[1].id_number",
            "duplicate_member",
        ),
        (order(channel=None), InvalidRequest, "channel", None),
        (order(payer_phone="1234"), InvalidRequest, "payer_phone", None),
        (order(biller_id="nope"), NotFound, None, None),
    ]
    for req, exc, param, code in cases:
        with pytest.raises(exc) as e:
            social.contribute(db, req)
        if param:
            assert e.value.param == param, (req, e.value.message)
        if code:
            assert e.value.code == code
        assert "/" in e.value.message  # Chinese first, English second
    make_biller(db, "water")
    with pytest.raises(InvalidRequest) as e:
        social.contribute(db, order(biller_id="water"))
    assert e.value.param == "biller_id"
    assert _counts(db) == before
    with pytest.raises(ValidationError):
        social.ContributionIn(**(order().model_dump() | {"members": []}))


def test_two_phones_pay_for_the_same_person_at_once(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    """Family members on several phones pay the same person's pension at once: one order goes through, every
    other one is refused (not a server error), on both backends."""
    import concurrent.futures

    bureau(db)
    same = {"name": "王建国", "id_number": person(1972)}

    def attempt(k: int) -> str:
        try:
            out = social.contribute(
                db,
                order(members=[same], tier_fen=(30_000, 50_000)[k % 2], channel=("wechat", "alipay")[k % 2]),
            )
            return out["status"]
        except ConflictError as exc:
            return exc.code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(attempt, range(12)))
    assert results.count("paying") == 1, results
    assert set(results) - {"paying"} == {"contribution_in_progress"}, results
    with db.read() as c:
        rows = social.list_contributions(c, "social_insurance")
    assert [r["status"] for r in rows] == ["paying"]
