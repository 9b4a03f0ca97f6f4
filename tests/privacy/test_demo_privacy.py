"""The demo's personal-data step leaves what `make demo` promises in the audit log: the operator's audited read
in full of the showcase merchant's phone (with its reason, not the number) and a refused console login."""

from __future__ import annotations

from tests.console.conftest import PASSWORD, cheap_argon2  # noqa: F401
from zhifu import audit
from zhifu.console import create_user
from zhifu.sim.privacy import REASON, demo_privacy


def test_demo_privacy_step(platform) -> None:  # type: ignore[no-untyped-def]
    mid, _ = platform.merchant(phone="13953305566")
    with platform.db.tx() as c:
        create_user(c, "operator", "operator", PASSWORD, institution_id="yiyuan_rcb")
    seen = demo_privacy(platform.db, mid)
    assert seen["read_in_full"] == 1 and seen["refused_logins"] == 1 and seen["past_retention"] >= 0
    audit.integrate_db(platform.db)
    with platform.db.read() as c:
        (read,) = audit.list_entries(c, action="personal_data.read_unmasked")["data"]
        (refused,) = audit.list_entries(c, action="console.login_failed")["data"]
    assert (read["actor"], read["role"], read["object_id"]) == ("operator", "operator", mid)
    assert read["details"] == {"field": "phone", "reason": REASON}
    assert (refused["actor"], refused["details"]["reason"]) == ("operator", "bad_password")
    assert "13953305566" not in str(read) and "not-the-password" not in str(refused)
