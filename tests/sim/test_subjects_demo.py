"""The demo's data-subject requests: two applied by a second operator, one left for the demo's checker login,
the payer's consent withdrawn and unlinked, and every step in the audit log."""

from __future__ import annotations

from zhifu import audit
from zhifu.consent import list_for
from zhifu.privacy import blind_index
from zhifu.sim.subjects import PAYER_PHONE, demo_subject_requests, summary


def test_demo_requests(platform) -> None:  # type: ignore[no-untyped-def]
    platform.merchant()
    platform.merchant(short_name="第二家")
    logins = demo_subject_requests(platform.db)
    assert [(r, u) for r, u, _ in logins] == [("operator", "operator2")]
    assert summary(platform.db) == {"pending": 1, "applied": 2, "rejected": 0}
    with platform.db.read() as c:
        assert list_for(c, "payer", blind_index(PAYER_PHONE)) == []
    audit.integrate_db(platform.db)
    with platform.db.read() as c:
        acts = [e["action"] for e in audit.list_entries(c, object_type="subject_request")["data"]]
    assert acts.count("subject_request.filed") == 3 and acts.count("subject_request.approved") == 2
