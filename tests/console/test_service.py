"""Users, passwords, sessions, throttling and each role's scope, on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from zhifu.console import service
from zhifu.console.models import console_sessions, console_users
from zhifu.core.errors import InvalidRequest, NotFound, PermissionDenied
from zhifu.payments.models import payments

from .conftest import PASSWORD


def _user(world, role_key: str) -> service.User:  # type: ignore[no-untyped-def]
    with world.db.tx() as c:
        result = service.login(c, world.users[role_key], PASSWORD, "10.0.0.1")
    assert result.user is not None
    return result.user


def test_password_is_stored_as_argon2id_and_never_in_clear(world) -> None:  # type: ignore[no-untyped-def]
    with world.db.tx() as c:
        stored = c.execute(
            select(console_users.c.password_hash).where(console_users.c.username == "shop-a")
        ).scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"username": "AB", "role": "regulator"}, "username"),
        ({"username": "x" * 65, "role": "regulator"}, "username"),
        ({"username": "ok-name", "role": "root"}, "role"),
        ({"username": "ok-name", "role": "regulator", "password": "short"}, "password"),
        ({"username": "ok-name", "role": "regulator", "password": "p" * 257}, "password"),
        ({"username": "ok-name", "role": "merchant"}, "merchant"),
        ({"username": "ok-name", "role": "merchant", "merchant_id": "mch_nope"}, "merchant"),
        ({"username": "ok-name", "role": "operator"}, "institution"),
        (
            {"username": "ok-name", "role": "operator", "institution_id": "unionpay_sd"},
            "institution",
        ),  # not an acquirer
        ({"username": "ok-name", "role": "regulator", "institution_id": "psbc"}, "institution"),
        ({"username": "ok-name", "role": "biller"}, "biller"),
        ({"username": "shop-a", "role": "regulator"}, "username"),  # taken
    ],
)
def test_create_user_refuses_bad_input(world, kwargs: dict, param: str) -> None:  # type: ignore[no-untyped-def]
    kwargs = {"password": PASSWORD, **kwargs}
    with world.db.tx() as c:
        before = c.execute(select(func.count()).select_from(console_users)).scalar()
        with pytest.raises((InvalidRequest, NotFound)) as err:
            service.create_user(
                c, kwargs.pop("username"), kwargs.pop("role"), kwargs.pop("password"), **kwargs
            )
        assert err.value.param == param
        assert c.execute(select(func.count()).select_from(console_users)).scalar() == before


def test_login_opens_a_session_that_expires(world, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    with world.db.tx() as c:
        result = service.login(c, " Shop-A ", PASSWORD, "10.0.0.1")
    assert result.user and result.user.merchant_id == world.mch_a and result.token and result.session
    with world.db.tx() as c:
        # only a digest of the token is stored
        assert c.execute(select(console_sessions.c.token_hash)).scalars().all().count(result.token) == 0
        found = service.session_user(c, result.token)
        assert found and found[0].username == "shop-a" and found[1].csrf_token == result.session.csrf_token
        assert service.session_user(c, result.token + "x") is None
        assert service.session_user(c, "") is None and service.session_user(c, "t" * 1000) is None
    fixed_clock.advance(seconds=service.SESSION_TTL_S + 1)
    with world.db.tx() as c:
        assert service.session_user(c, result.token) is None
    with world.db.tx() as c:
        again = service.login(c, "shop-a", PASSWORD, "10.0.0.1")
        service.logout(c, again.token)
        assert service.session_user(c, again.token) is None


def test_wrong_passwords_are_throttled_per_username_and_address(world, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    for _ in range(service.LOGIN_FAILURES_MAX):
        with world.db.tx() as c:
            r = service.login(c, "shop-a", "wrong password!", "10.0.0.9")
        assert r.user is None and not r.throttled
    with world.db.tx() as c:
        blocked = service.login(c, "shop-a", PASSWORD, "10.0.0.9")  # even the right password
        other_ip = service.login(c, "shop-a", PASSWORD, "10.0.0.10")
        unknown = service.login(c, "nobody-here", PASSWORD, "10.0.0.9")
    assert blocked.throttled and blocked.user is None and blocked.token is None
    assert other_ip.user is not None and unknown.user is None and not unknown.throttled
    fixed_clock.advance(seconds=service.LOGIN_WINDOW_S + 1)
    with world.db.tx() as c:
        assert service.login(c, "shop-a", PASSWORD, "10.0.0.9").user is not None


def test_over_long_login_fields_are_refused_before_hashing(world) -> None:  # type: ignore[no-untyped-def]
    with world.db.tx() as c, pytest.raises(InvalidRequest) as err:
        service.login(c, "shop-a", "p" * 10_000, "10.0.0.1")
    assert err.value.param == "password"


def test_disabled_user_cannot_log_in_or_keep_a_session(world) -> None:  # type: ignore[no-untyped-def]
    with world.db.tx() as c:
        token = service.login(c, "pboc", PASSWORD, "1.1.1.1").token
        c.execute(console_users.update().where(console_users.c.username == "pboc").values(status="disabled"))
    with world.db.tx() as c:
        assert service.session_user(c, token) is None
        assert service.login(c, "pboc", PASSWORD, "1.1.1.1").user is None


def test_scope_is_enforced_in_the_service(world) -> None:  # type: ignore[no-untyped-def]
    shop_a, shop_b = _user(world, "merchant_a"), _user(world, "merchant_b")
    op_a, op_b, reg = _user(world, "operator_a"), _user(world, "operator_b"), _user(world, "regulator")
    with world.db.tx() as c:
        assert service.payment_detail(c, shop_a, world.pay_a)["merchant_order_no"] == "A-0001"
        assert service.payment_detail(c, op_a, world.pay_a)["id"] == world.pay_a
        assert service.payment_detail(c, reg, world.pay_b)["id"] == world.pay_b
        for user, pid in ((shop_b, world.pay_a), (op_b, world.pay_a), (op_a, world.pay_b)):
            with pytest.raises(NotFound):
                service.payment_detail(c, user, pid)
        assert [p["id"] for p in service.search_payments(c, shop_b)[0]] == [world.pay_b]
        assert [p["id"] for p in service.search_payments(c, op_a)[0]] == [world.pay_a]
        assert {p["id"] for p in service.search_payments(c, reg)[0]} == {world.pay_a, world.pay_b}
        assert service.search_payments(c, shop_b, q=world.pay_a)[0] == []
        assert [m["id"] for m in service.review_queue(c, op_a)] == [world.pending_a]
        with pytest.raises(NotFound):
            service.merchant_review(c, op_a, world.pending_b)
        with pytest.raises(PermissionDenied):
            service.review_queue(c, reg)
        with pytest.raises(PermissionDenied):
            service.takings_today(c, op_a)
        with pytest.raises(PermissionDenied):
            service.programme_figures(c, shop_a)
        with pytest.raises(NotFound):
            service.revoke_key(c, shop_b, world.key_a)
        with pytest.raises(NotFound):
            service.delete_endpoint(c, shop_b, world.endpoint_a)
    with world.db.tx() as c, pytest.raises(NotFound):
        service.refund(c, shop_b, world.pay_a, "", "not mine")
    with world.db.tx() as c:
        assert c.execute(select(payments.c.refunded_fen).where(payments.c.id == world.pay_a)).scalar() == 100


def test_regulator_sees_personal_data_masked(world) -> None:  # type: ignore[no-untyped-def]
    reg, op_a = _user(world, "regulator"), _user(world, "operator_a")
    with world.db.tx() as c:
        seen = service.list_merchants(c, reg)[0]
        own = service.list_merchants(c, op_a)[0]
    assert seen and all(
        m["legal_person_name_masked"] == "*三" and m["settle_account_name"] == "*三" for m in seen
    )
    assert all("*" in m["phone_masked"] and "*" in m["legal_person_id_masked"] for m in seen)
    assert {m["acquirer_id"] for m in own} == {"yiyuan_rcb"} and own[0]["legal_person_name_masked"] == "*三"


def test_takings_review_and_figures(world) -> None:  # type: ignore[no-untyped-def]
    shop_a, op_a, reg = _user(world, "merchant_a"), _user(world, "operator_a"), _user(world, "regulator")
    with world.db.tx() as c:
        t = service.takings_today(c, shop_a)
        checks = service.merchant_review(c, op_a, world.pending_a)["checks"]
    assert (t["count"], t["gross_fen"], t["refunded_fen"], t["net_fen"]) == (1, 1250, 100, 1150)
    assert [p["id"] for p in t["recent"]] == [world.pay_a] and t["cursor"].startswith("evt_")
    assert len(checks) == 7 and all(ch["ok"] for ch in checks)
    with world.db.tx() as c:
        with pytest.raises(InvalidRequest) as err:
            service.review_merchant(c, op_a, world.pending_a, "reject", "   ")
        assert err.value.param == "reason"
        with pytest.raises(InvalidRequest):
            service.review_merchant(c, op_a, world.pending_a, "terminate", "no")
        assert service.review_merchant(c, op_a, world.pending_a, "approve", "")["status"] == "active"
    with world.db.tx() as c:
        f = service.programme_figures(c, reg)
    assert f["merchants_by_status"] == {"active": 3, "pending_review": 1}
    assert f["payments_count"] == 2 and f["payments_amount_fen"] == 4550
    assert f["channels"] == [{"channel": "wechat", "count": 2, "amount_fen": 4550}]
    assert sum(t["total"] for t in f["towns"]) == 4


def test_day_boundary_is_beijing_midnight() -> None:
    at = dt.datetime(2026, 11, 23, 16, 30, tzinfo=dt.UTC)  # 00:30 on the 24th in Beijing
    assert service._day_start(at) == dt.datetime(2026, 11, 23, 16, 0, tzinfo=dt.UTC)
    assert service._id_floor("pay", at) < service._id_floor("pay", at + dt.timedelta(milliseconds=1))
