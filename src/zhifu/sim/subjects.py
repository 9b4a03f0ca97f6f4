"""演示：数据主体请求 / The demo's data-subject requests: a merchant's address corrected and a payer's data deleted
(each filed by the operator and approved by a second operator of the same bank), and a phone correction left
waiting, so the second operator's login has one to approve; every step is in the audit log."""

from __future__ import annotations

import secrets
from typing import Any

from zhifu import audit
from zhifu.consent import GrantIn, grant
from zhifu.consent.requests import FileIn, decide, file_request
from zhifu.db import Database
from zhifu.merchants import list_merchants

ACQUIRER = "yiyuan_rcb"  # the demo's operator login is this bank's
MAKER, CHECKER = "console:operator", "console:operator2"
PAYER_PHONE = "13905330188"  # a demo payer who signed up for coupons on paper, then asked to be forgotten


def demo_subject_requests(db: Database) -> list[tuple[str, str, str]]:
    """Builds the requests; returns the second operator's login for the demo's printout."""
    from zhifu.console import create_user

    with db.read() as c:
        shops, _ = list_merchants(c, status="active", acquirer_id=ACQUIRER, limit=2)
    if len(shops) < 2:
        return []
    password = secrets.token_urlsafe(9)
    with db.tx() as c:
        create_user(c, "operator2", "operator", password, institution_id=ACQUIRER, display_name="演示 复核员")
    with audit.acting("operator", "operator"):
        db.run(
            lambda c: grant(
                c,
                GrantIn(
                    subject_type="payer",
                    phone=PAYER_PHONE,
                    purpose="marketing",
                    scope="接收本县商户优惠券短信",
                    data_categories=["phone"],
                    method="paper",
                ),
            )
        )
        asks = [
            FileIn(
                subject_type="merchant",
                merchant_id=shops[0]["id"],
                kind="correction",
                field="address",
                value=(shops[0]["address"] + "（新址）")[:200],
                reason="商户到网点书面申请更正经营地址，已核验营业执照",
            ),
            FileIn(
                subject_type="payer",
                phone=PAYER_PHONE,
                kind="deletion",
                reason="付款人书面申请删除营销用个人信息，已核验身份证",
            ),
            FileIn(
                subject_type="merchant",
                merchant_id=shops[1]["id"],
                kind="correction",
                field="phone",
                value="13905330199",
                reason="法人来电：手机号已更换，待复核",
            ),
        ]
        filed = [
            db.run(lambda c, a=a: file_request(c, a, filed_by=MAKER, acquirer_id=ACQUIRER)) for a in asks
        ]
    with audit.acting("operator2", "operator"):
        for req in filed[:2]:
            db.run(lambda c, r=req: decide(c, r["id"], "approve", decided_by=CHECKER, acquirer_id=ACQUIRER))
    return [("operator", "operator2", password)]


def summary(db: Database) -> dict[str, Any]:
    from zhifu.consent.requests import list_requests

    with db.read() as c:
        rows = list_requests(c, acquirer_id=ACQUIRER)
    return {s: sum(r["status"] == s for r in rows) for s in ("pending", "applied", "rejected")}
