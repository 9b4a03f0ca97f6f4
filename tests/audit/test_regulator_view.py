"""The regulator's view of the log: the dashboard shows the latest checkpoint with its signature checked and
the last verification (the background pass records it); the log page filters by time, role, action and
object, masks personal data, refuses a bad date naming the field, and an acquirer's operator sees only
entries about its own merchants."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from tests.console.conftest import World
from zhifu import audit
from zhifu.audit import offline, service
from zhifu.audit.models import audit_state
from zhifu.core import clock


def test_dashboard_shows_checkpoint_signature_and_last_verification(world: World) -> None:
    audit.integrate_db(world.db)
    reg = world.login("pboc")
    page = reg.get("/console/regulator")
    assert page.status_code == 200 and "data-audit-card" in page.text
    with world.db.read() as c:
        st = audit.status(c)
    assert st["signature_ok"] is True and f"{st['size']} 条" in page.text
    assert st["root"][:16] in page.text and "尚未校验" in page.text
    assert audit.verify_due(world.db) is not None  # never verified: due now
    assert audit.verify_due(world.db) is None  # verified a moment ago: not due
    page = reg.get("/console/regulator")
    assert "完好 / intact" in page.text and "data-audit-verified" in page.text

    def forge(c):  # type: ignore[no-untyped-def]
        text = c.execute(service.select(audit_state.c.latest)).scalar_one()
        cp = offline.Checkpoint.parse(text)
        cp.root = b"\x07" * 32  # a new root under the old signature
        c.execute(update(audit_state).values(latest=cp.text()))

    world.db.run(forge)
    page = reg.get("/console/regulator")
    assert "无效 / INVALID" in page.text
    dashboard = reg.get("/console/regulator/kpi")  # the programme dashboard carries the same card
    assert dashboard.status_code == 200 and "data-audit-card" in dashboard.text
    assert "无效 / INVALID" in dashboard.text and st["root"][:16] not in dashboard.text


def test_log_page_filters_masks_and_scopes(world: World) -> None:
    world.db.run(
        lambda c: audit.record(
            c,
            "op-rcb",
            "test.lookup",
            "merchant",
            world.mch_a,
            {"phone": "13905331234", "card": "6228480012345678901", "id": "370323199001011234"},
            role="operator",
            merchant_id=world.mch_a,
        )
    )
    audit.integrate_db(world.db)
    reg = world.login("pboc")
    page = reg.get("/console/regulator/audit", params={"action": "test.lookup"})
    assert page.text.count("data-entry=") == 1
    assert "13905331234" not in page.text and "139****1234" in page.text
    assert "6228480012345678901" not in page.text and "622848*********8901" in page.text
    assert "370323199001011234" not in page.text and "370323********1234" in page.text
    today = clock.now().astimezone(clock.SHANGHAI).date()
    in_range = reg.get("/console/regulator/audit", params={"action": "test.lookup", "since": str(today)})
    assert in_range.text.count("data-entry=") == 1
    later = str(today + dt.timedelta(days=1))
    assert reg.get("/console/regulator/audit", params={"since": later}).text.count("data-entry=") == 0
    earlier = str(today - dt.timedelta(days=1))
    assert reg.get("/console/regulator/audit", params={"until": earlier}).text.count("data-entry=") == 0
    by_role = reg.get("/console/regulator/audit", params={"role": "operator", "object_type": "merchant"})
    assert by_role.text.count("data-entry=") >= 1 and 'value="operator" selected' in by_role.text
    bad = reg.get("/console/regulator/audit", params={"since": "2026-13-01"})
    assert bad.status_code == 400 and "开始日期" in bad.text
    # an acquirer's operator sees its own merchants' entries only, and proofs of nothing else
    psbc = world.login("op-psbc")
    theirs = psbc.get("/console/operator/audit", params={"action": "test.lookup"})
    assert theirs.status_code == 200 and "data-scoped" in theirs.text
    assert theirs.text.count("data-entry=") == 0
    with world.db.read() as c:
        index = audit.list_entries(c, action="test.lookup")["data"][0]["index"]
    assert psbc.get(f"/console/operator/audit/entries/{index}/proof").status_code == 404
    rcb = world.login("op-rcb")
    mine = rcb.get("/console/operator/audit", params={"action": "test.lookup"})
    assert mine.text.count("data-entry=") == 1 and "13905331234" not in mine.text
