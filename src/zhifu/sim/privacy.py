"""演示：个人信息 / The demo's personal-data life: the operator reads the showcase merchant's phone in full with a
reason (an audited read the regulator finds in the log), a mistyped console password is refused (an audited
failure, the password nowhere), and the retention purge's dry run counts what is past its class."""

from __future__ import annotations

from typing import Any

from zhifu import audit
from zhifu.db import Database
from zhifu.merchants import personal

REASON = "演示：回访核实商户联系电话 / demo: calling the merchant back"


def demo_privacy(db: Database, merchant_id: str | None, operator: str = "operator") -> dict[str, Any]:
    """Returns what it did, for the demo's printout."""
    out: dict[str, Any] = {"read_in_full": 0, "refused_logins": 0, "past_retention": 0}
    if merchant_id:
        with audit.acting(operator, "operator"):
            db.run(lambda c: personal.reveal(c, merchant_id, "phone", REASON, role="operator"))
        out["read_in_full"] = 1
    from zhifu.console import login

    result = db.run(lambda c: login(c, operator, "not-the-password", "127.0.0.1"))
    out["refused_logins"] = int(result.user is None)
    from zhifu.privacy.retention import plan

    with db.read() as c:
        out["past_retention"] = sum(line.due for line in plan(c))
    return out
