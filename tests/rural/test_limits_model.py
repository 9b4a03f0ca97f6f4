"""The e-account limits against a plain model: any sequence of top-ups, payments, transfers out and payouts in,
spread over days that cross a Beijing year end, is accepted or refused (with the same reason) exactly as a
dictionary-and-arithmetic model of 银发〔2016〕302号 says, on both backends; and 16 workers racing to spend
from one account on PostgreSQL never pass the day limit or the balance."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.rural.helpers import merchant, open_account
from zhifu import ledger
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import ZhifuError
from zhifu.db import Database
from zhifu.rural import eaccounts as ea

START = dt.datetime(2022, 12, 30, 9, 0, tzinfo=SHANGHAI)
LIMITS = {
    "II": {
        "out_day": 1_000_000,
        "out_year": 20_000_000,
        "in_day": 1_000_000,
        "in_year": 20_000_000,
        "balance": None,
    },
    "III": {"out_day": 200_000, "out_year": 5_000_000, "in_day": None, "in_year": None, "balance": 200_000},
}


class Model:
    """The rules written plainly: a balance, and per direction a total per Beijing date and per Beijing year."""

    def __init__(self, cls: str) -> None:
        self.lim = LIMITS[cls]
        self.balance = 0
        self.used: dict[tuple[str, object], int] = {}

    def apply(self, kind: str, amount: int, at: dt.datetime) -> str | None:
        local = at.astimezone(SHANGHAI)
        day, year = local.date(), local.year
        out = kind in ("spend", "transfer_out")
        d = "out" if out else "in"
        counted = out or (kind == "payout_in" and self.lim["in_day"] is not None)
        if out and amount > self.balance:
            return "insufficient_funds"
        if not out and self.lim["balance"] is not None and self.balance + amount > self.lim["balance"]:
            return "balance_limit_exceeded"
        if counted:
            day_max = self.lim[f"{d}_day"]
            year_max = self.lim[f"{d}_year"]
            if self.used.get((d, day), 0) + amount > day_max:
                return "day_limit_exceeded"
            if self.used.get((d, year), 0) + amount > year_max:
                return "year_limit_exceeded"
            self.used[(d, day)] = self.used.get((d, day), 0) + amount
            self.used[(d, year)] = self.used.get((d, year), 0) + amount
        self.balance += -amount if out else amount
        return None


ops = st.lists(
    st.tuples(
        st.sampled_from(["topup", "spend", "transfer_out", "payout_in"]),
        st.integers(1, 1_200_000),
        st.integers(0, 30 * 60),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(cls=st.sampled_from(["II", "III"]), steps=ops)
def test_limits_match_the_plain_model(db: Database, cls: str, steps: list[tuple[str, int, int]]) -> None:
    aid, card_no = open_account(db, cls)
    mid = merchant(db)
    with db.tx() as c:
        ledger.open_account(c, "test_source", "asset")
    model = Model(cls)
    at = START
    for i, (kind, amount, minutes) in enumerate(steps):
        at = at + dt.timedelta(
            minutes=minutes * 3
        )  # steps of up to 90 hours: days and the year end are crossed
        expected = model.apply(kind, amount, at)
        try:
            with db.tx() as c:
                if kind == "topup":
                    ea.top_up(c, aid, card_no, amount, f"r{i}", at=at)
                elif kind == "spend":
                    ea.pay_merchant(c, aid, mid, amount, f"r{i}", at=at)
                elif kind == "transfer_out":
                    ea.transfer_out(c, aid, amount, f"r{i}", at=at)
                else:
                    ea.move(
                        c,
                        aid,
                        kind="payout_in",
                        amount_fen=amount,
                        counter_leg="test_source",
                        reference=f"r{i}",
                        at=at,
                    )
            got = None
        except ZhifuError as exc:
            got = exc.code
        assert got == expected, (i, kind, amount, at)
    with db.read() as c:
        assert ledger.get_balance(c, ea.ledger_code(aid)).posted_fen == model.balance
        assert not ledger.verify(c)


@pytest.mark.parametrize("backend", [pytest.param("pg", marks=pytest.mark.pg)])
def test_sixteen_workers_cannot_pass_the_day_limit(db: Database) -> None:
    aid, card_no = open_account(db, "II")
    mid = merchant(db)
    at = dt.datetime(2022, 6, 1, 10, tzinfo=SHANGHAI)
    with db.tx() as c:
        ea.top_up(c, aid, card_no, 2_000_000, "t", at=at)
    results: list[str] = []
    lock = threading.Lock()
    gate = threading.Barrier(16)

    def worker(w: int) -> None:
        gate.wait()
        for j in range(5):
            try:
                db.run(lambda c, j=j: ea.pay_merchant(c, aid, mid, 30_000, f"w{w}-{j}", at=at))
                out = "ok"
            except ZhifuError as exc:
                out = exc.code
            with lock:
                results.append(out)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = results.count("ok")
    assert ok == 33  # 10,000 yuan a day ÷ 300 yuan: 33 fit, the 34th would pass the limit
    assert results.count("day_limit_exceeded") == 80 - 33
    with db.read() as c:
        assert ea.usage(c, aid, at)["day_used_fen"] == 990_000
        assert ledger.get_balance(c, ea.ledger_code(aid)).posted_fen == 2_000_000 - 990_000
        assert ledger.get_balance(c, f"merchant_payable:{mid}").posted_fen == 990_000
