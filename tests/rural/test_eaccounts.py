"""E-accounts on both backends: opening against the bound card, one per class per bank, top-ups only from the
bound card, Class III's balance cap, day and year limits named when refused, the year counter starting again at
00:00 on 1 January Beijing time, and nothing moved by a refused request."""

from __future__ import annotations

import pytest

from tests.rural.helpers import card, merchant, open_account, sh
from zhifu import ledger
from zhifu.core.errors import ConflictError, InvalidRequest
from zhifu.db import Database
from zhifu.rural import eaccounts as ea


def _balance(db: Database, aid: str) -> int:
    with db.read() as c:
        return ledger.get_balance(c, ea.ledger_code(aid)).posted_fen


def test_open_top_up_pay_and_transfer_out(db: Database) -> None:
    aid, card_no = open_account(db, "II")
    mid = merchant(db)
    with db.tx() as c:
        ea.top_up(c, aid, card_no, 50_000, "t1", at=sh(2022, 6, 1))
        ea.pay_merchant(c, aid, mid, 12_345, "o1", at=sh(2022, 6, 1, 11))
        ea.transfer_out(c, aid, 7_655, "w1", at=sh(2022, 6, 1, 12))
    assert _balance(db, aid) == 30_000
    with db.read() as c:
        assert ledger.get_balance(c, f"merchant_payable:{mid}").posted_fen == 12_345
        acc = ea.get_eaccount(c, aid)
        assert acc["bound_card"].endswith(card_no[-4:]) and card_no not in str(acc)
        assert [t["kind"] for t in ea.statement(c, aid)] == ["transfer_out", "spend", "topup"]
        assert (
            ea.usage(c, aid, sh(2022, 6, 1, 13))["day_used_fen"] == 20_000
        )  # spend + transfer out, not top-up
        assert not ledger.verify(c)


def test_one_account_per_class_per_bank_and_the_card_must_be_theirs(db: Database) -> None:
    aid, card_no = open_account(db, "II", id_no="370323199001011234")
    with pytest.raises(ConflictError) as e:
        open_account(db, "II", id_no="370323199001011234")
    assert e.value.code == "eaccount_exists" and e.value.param == "account_class"
    open_account(db, "III", id_no="370323199001011234")  # another class is allowed
    with pytest.raises(InvalidRequest) as e:
        open_account(db, "II", card_no=card("1111"))
    assert e.value.param == "card_no" and e.value.code == "card_verification_failed"


def test_top_up_only_from_the_bound_card(db: Database) -> None:
    aid, _ = open_account(db, "II")
    with db.tx() as c, pytest.raises(InvalidRequest) as e:
        ea.top_up(c, aid, card(), 1_000, "t1")
    assert e.value.code == "card_not_bound" and e.value.param == "card_no"
    assert _balance(db, aid) == 0


def test_class_iii_balance_cap_and_day_limit(db: Database) -> None:
    aid, card_no = open_account(db, "III")
    with db.tx() as c:
        ea.top_up(c, aid, card_no, 200_000, "t1", at=sh(2022, 6, 1))
    with db.tx() as c, pytest.raises(InvalidRequest) as e:
        ea.top_up(c, aid, card_no, 1, "t2", at=sh(2022, 6, 1))
    assert e.value.code == "balance_limit_exceeded" and "2000.00" in e.value.message
    mid = merchant(db)
    with db.tx() as c:
        ea.pay_merchant(c, aid, mid, 150_000, "o1", at=sh(2022, 6, 1))
        ea.top_up(c, aid, card_no, 150_000, "t3", at=sh(2022, 6, 1))
    with db.tx() as c, pytest.raises(InvalidRequest) as e:
        ea.pay_merchant(c, aid, mid, 50_001, "o2", at=sh(2022, 6, 1, 23, 59))
    assert e.value.code == "day_limit_exceeded" and e.value.param == "amount_fen"
    with db.tx() as c:  # the next Beijing day has a fresh daily limit
        ea.pay_merchant(c, aid, mid, 50_001, "o2", at=sh(2022, 6, 2, 0, 1))
    assert _balance(db, aid) == 149_999


def test_class_ii_year_limit_resets_on_1_january_beijing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZHIFU_RURAL_CLASS2_OUT_YEAR_FEN", "3000000")  # a stricter bank: 30,000 a year
    aid, card_no = open_account(db, "II")
    mid = merchant(db)
    with db.tx() as c:
        ea.top_up(c, aid, card_no, 5_000_000, "t", at=sh(2022, 12, 1))
    for day in (1, 2, 3):
        with db.tx() as c:
            ea.pay_merchant(c, aid, mid, 1_000_000, f"d{day}", at=sh(2022, 12, day))
    late = sh(2022, 12, 31, 23, 59)
    with db.tx() as c, pytest.raises(InvalidRequest) as e:
        ea.pay_merchant(c, aid, mid, 1, "late", at=late)
    assert e.value.code == "year_limit_exceeded"
    # 00:01 on 1 January in Beijing is still 31 December in UTC: the new year's counter applies
    new_year = sh(2023, 1, 1, 0, 1)
    assert new_year.astimezone(__import__("datetime").UTC).year == 2022
    with db.tx() as c:
        ea.pay_merchant(c, aid, mid, 1_000_000, "ny", at=new_year)
    assert _balance(db, aid) == 1_000_000


def test_refused_payment_moves_nothing_and_a_retry_is_the_same(db: Database) -> None:
    aid, card_no = open_account(db, "II")
    mid = merchant(db)
    with db.tx() as c:
        ea.top_up(c, aid, card_no, 1_000, "t")
    with db.tx() as c, pytest.raises(InvalidRequest) as e:
        ea.pay_merchant(c, aid, mid, 1_001, "o1")
    assert e.value.code == "insufficient_funds"
    with db.tx() as c:
        first = ea.pay_merchant(c, aid, mid, 600, "o1")
        again = ea.pay_merchant(c, aid, mid, 600, "o1")
        assert first["id"] == again["id"]
        assert ea.usage(c, aid)["day_used_fen"] == 600
    assert _balance(db, aid) == 400
