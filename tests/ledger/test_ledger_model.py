"""A state machine of random accounts, entries, holds, posts, voids, expiries and retries, run against a
plain in-memory model: balances always equal the model's, and verify passes — on both backends."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from zhifu import ledger
from zhifu.core.clock import FixedClock
from zhifu.ledger import EntryRequest, Leg

T0 = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
TYPES = ["asset", "liability", "equity", "income", "expense"]


@dataclasses.dataclass
class MAcc:
    type: str
    no_overdraft: bool
    dr: int = 0
    cr: int = 0
    pdr: int = 0
    pcr: int = 0

    def available_after(self, ddr: int, dcr: int, dpdr: int = 0, dpcr: int = 0) -> int:
        dr_, cr_, pdr, pcr = self.dr + ddr, self.cr + dcr, self.pdr + dpdr, self.pcr + dpcr
        if self.type in ("asset", "expense"):
            return dr_ - cr_ - pcr
        return cr_ - dr_ - pdr

    @property
    def posted(self) -> int:
        return self.dr - self.cr if self.type in ("asset", "expense") else self.cr - self.dr


def run_machine(make_db, fixed_clock: FixedClock, max_examples: int) -> None:  # type: ignore[no-untyped-def]
    class LedgerMachine(RuleBasedStateMachine):
        @initialize()
        def setup(self) -> None:
            fixed_clock.set(T0)  # every example starts at the same instant, so replays are deterministic
            self.db = make_db()
            self.model: dict[str, MAcc] = {}
            self.posted: dict[str, tuple[Leg, ...]] = {}
            self.holds: dict[str, dict] = {}
            self.n = 0

        def teardown(self) -> None:
            if hasattr(self, "db"):
                self.db.dispose()

        @rule(t=st.sampled_from(TYPES), guarded=st.booleans())
        def open_account(self, t: str, guarded: bool) -> None:
            if len(self.model) >= 6:
                return
            code = f"a{len(self.model)}"
            with self.db.tx() as c:
                ledger.open_account(c, code, t, no_overdraft=guarded)
            self.model[code] = MAcc(t, guarded)

        @precondition(lambda self: len(self.model) >= 2)
        @rule(data=st.data())
        def post(self, data: st.DataObject) -> None:
            codes = sorted(self.model)
            n_legs = data.draw(st.integers(2, 4))
            legs_accounts = data.draw(st.lists(st.sampled_from(codes), min_size=n_legs, max_size=n_legs))
            amounts = data.draw(st.lists(st.integers(1, 500), min_size=n_legs - 1, max_size=n_legs - 1))
            legs = [Leg(legs_accounts[0], "C", sum(amounts))] + [
                Leg(a, "D", x) for a, x in zip(legs_accounts[1:], amounts, strict=True)
            ]
            self.n += 1
            key = f"e{self.n}"
            deltas: dict[str, list[int]] = {}
            for leg in legs:
                deltas.setdefault(leg.account, [0, 0])[0 if leg.side == "D" else 1] += leg.amount_fen
            would_fail = any(
                self.model[a].no_overdraft and self.model[a].available_after(d, c) < 0
                for a, (d, c) in deltas.items()
            )
            try:
                with self.db.tx() as conn:
                    ledger.post_entry(conn, EntryRequest(key, tuple(legs)))
            except ledger.Overdraft:
                assert would_fail
                return
            assert not would_fail
            for a, (d, c) in deltas.items():
                self.model[a].dr += d
                self.model[a].cr += c
            self.posted[key] = tuple(legs)

        @precondition(lambda self: bool(self.posted))
        @rule(data=st.data(), change=st.booleans())
        def retry(self, data: st.DataObject, change: bool) -> None:
            key = data.draw(st.sampled_from(sorted(self.posted)))
            legs = self.posted[key]
            if change:
                legs = (
                    Leg(legs[0].account, legs[0].side, legs[0].amount_fen + 1),
                    *legs[1:-1],
                    Leg(legs[-1].account, legs[-1].side, legs[-1].amount_fen + 1),
                )
                if legs[0].side == legs[-1].side:
                    return
                with pytest.raises(ledger.IdempotencyConflict), self.db.tx() as conn:
                    ledger.post_entry(conn, EntryRequest(key, legs))
            else:
                with self.db.tx() as conn:
                    assert ledger.post_entry(conn, EntryRequest(key, legs)).replayed

        @precondition(lambda self: len(self.model) >= 2)
        @rule(data=st.data(), amount=st.integers(1, 400), timeout=st.integers(1, 120))
        def hold(self, data: st.DataObject, amount: int, timeout: int) -> None:
            codes = sorted(self.model)
            debit = data.draw(st.sampled_from(codes))
            credit = data.draw(st.sampled_from([c for c in codes if c != debit]))
            d, c = self.model[debit], self.model[credit]
            fails = (
                d.no_overdraft and d.type not in ("asset", "expense") and d.available_after(0, 0, amount) < 0
            ) or (
                c.no_overdraft and c.type in ("asset", "expense") and c.available_after(0, 0, 0, amount) < 0
            )
            self.n += 1
            try:
                with self.db.tx() as conn:
                    h = ledger.hold(conn, f"h{self.n}", debit, credit, amount, timeout_s=timeout)
            except ledger.Overdraft:
                assert fails
                return
            assert not fails
            d.pdr += amount
            c.pcr += amount
            self.holds[f"h{self.n}"] = {
                "id": h.id,
                "debit": debit,
                "credit": credit,
                "amount": amount,
                "status": "pending",
                "expires": h.expires_at,
            }

        def _pending(self) -> list[str]:
            return sorted(k for k, v in self.holds.items() if v["status"] == "pending")

        def _release(self, h: dict, status: str) -> None:
            self.model[h["debit"]].pdr -= h["amount"]
            self.model[h["credit"]].pcr -= h["amount"]
            h["status"] = status

        @precondition(lambda self: bool(self._pending()))
        @rule(data=st.data())
        def post_hold(self, data: st.DataObject) -> None:
            h = self.holds[data.draw(st.sampled_from(self._pending()))]
            hid = h["id"]
            amount = data.draw(st.integers(1, h["amount"] + 1))
            expired = h["expires"] <= fixed_clock.now()
            try:
                with self.db.tx() as conn:
                    ledger.post_hold(conn, hid, amount)
            except ledger.HoldExpired:
                assert expired
                return
            except ledger.HoldExceeded:
                assert amount > h["amount"]
                return
            assert not expired and amount <= h["amount"]
            self._release(h, "posted")
            self.model[h["debit"]].dr += amount
            self.model[h["credit"]].cr += amount

        @precondition(lambda self: bool(self._pending()))
        @rule(data=st.data())
        def void(self, data: st.DataObject) -> None:
            h = self.holds[data.draw(st.sampled_from(self._pending()))]
            hid = h["id"]
            try:
                with self.db.tx() as conn:
                    ledger.void_hold(conn, hid)
            except ledger.HoldExpired:
                assert h["expires"] <= fixed_clock.now()
                return
            self._release(h, "voided")

        @rule(seconds=st.integers(1, 90))
        def advance_and_expire(self, seconds: int) -> None:
            now = fixed_clock.advance(seconds=seconds)
            with self.db.tx() as conn:
                got = set(ledger.expire_holds(conn))
            want = {k for k, v in self.holds.items() if v["status"] == "pending" and v["expires"] <= now}
            assert got == {self.holds[k]["id"] for k in want}
            for k in want:
                self._release(self.holds[k], "expired")

        @invariant()
        def balances_match_model(self) -> None:
            if not hasattr(self, "db"):
                return
            with self.db.tx() as conn:
                for code, m in self.model.items():
                    b = ledger.get_balance(conn, code)
                    assert (b.posted_fen, b.pending_debits_fen, b.pending_credits_fen) == (
                        m.posted,
                        m.pdr,
                        m.pcr,
                    )

    original_teardown = LedgerMachine.teardown

    def teardown(self):  # type: ignore[no-untyped-def]
        if hasattr(self, "db"):
            with self.db.tx() as conn:
                assert ledger.verify(conn) == []
        original_teardown(self)

    LedgerMachine.teardown = teardown  # type: ignore[method-assign]
    LedgerMachine.TestCase.settings = settings(
        max_examples=max_examples,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    LedgerMachine.TestCase().runTest()


def test_ledger_matches_model(backend: str, tmp_path, request, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import fresh_database

    # PostgreSQL truncates every table between examples, which costs more than a fresh SQLite file
    examples = 40 if backend == "sqlite" else 20
    run_machine(lambda: fresh_database(backend, str(tmp_path), request), fixed_clock, examples)
