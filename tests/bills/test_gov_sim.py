"""The simulator gives social insurance and non-tax codes their life: the bureaus, families paying the open
window's contributions on the phone and at the counter, codes paid within validity and some left to expire, each
paid code with its fiscal e-receipt, and a ledger that still verifies."""

from __future__ import annotations

import datetime as dt

from zhifu import ledger
from zhifu.bills import nontax, social
from zhifu.bills import service as bills
from zhifu.county import load_profile
from zhifu.payments import ensure_platform_accounts
from zhifu.sim import gov


def test_demo_gov(db, monkeypatch, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(gov, "FAMILIES_PER_PLAN", 8)
    monkeypatch.setattr(gov, "CODES", 9)
    monkeypatch.setenv("ZHIFU_COUNTY_PROFILE", "demo_small")
    from zhifu.core.config import get_settings

    get_settings.cache_clear()
    with db.tx() as c:
        ensure_platform_accounts(c)
    try:
        made = gov.demo_gov(db, load_profile("demo_small"), dt.date(2022, 6, 15), seed=3)
    finally:
        monkeypatch.delenv("ZHIFU_COUNTY_PROFILE")
        get_settings.cache_clear()
    assert made["families"] == 8 and made["persons"] >= 8 and made["contributions_paid"] > 0
    assert made["codes"] == 9 and 0 < made["codes_paid"] < 9
    with db.read() as c:
        assert ledger.verify(c) == []
        paid = sum(s["persons"] for s in social.summary(c, "social_insurance"))
        assert paid == made["contributions_paid"]
        assert {s["scheme"] for s in social.summary(c, "social_insurance")} == {"pension"}  # the open window
        codes = nontax.list_codes(c, "finance")
        assert {"paid", "expired"} <= {x["state"] for x in codes}
        assert nontax.code_counts(c, "finance")["paid"] == made["codes_paid"]
        figs = {x["category"]: x["count"] for x in bills.public_service_figures(c)["by_category"]}
        assert figs["tax"] == made["codes_paid"] and figs["social_insurance"] > 0
