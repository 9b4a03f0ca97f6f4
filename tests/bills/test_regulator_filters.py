"""The regulator's public-service figures follow the filters on both backends: the page by town, channel and
category, and the dashboard's line by its town, channel and institution, each equal to the bill lines' own sums;
an unknown town is refused naming the field."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from tests.bills.test_regulator import DAY, _login, _paid_county, _rows
from zhifu.api.app import create_app
from zhifu.bills import service as bills
from zhifu.bills.models import bill_lines

POWER_TOWN = "370323101"


def own(db, **where: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Count and amount straight from the succeeded bill lines."""
    cond = [bill_lines.c.status == "succeeded", bill_lines.c.business_date == DAY]
    cond += [getattr(bill_lines.c, k) == v for k, v in where.items()]
    with db.read() as c:
        n, a = c.execute(
            select(func.count(), func.coalesce(func.sum(bill_lines.c.amount_fen), 0)).where(*cond)
        ).one()
    return int(n), int(a)


def _total(html: str) -> tuple[int, int]:
    m = re.search(r'id="ps-total" data-count="(\d+)" data-amount-fen="(\d+)"', html)
    assert m is not None, html[:500]
    return int(m[1]), int(m[2])


def test_the_page_and_the_dashboard_follow_town_channel_and_category(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    from zhifu.core.config import get_settings
    from zhifu.county import load_profile
    from zhifu.county.service import load_county

    with db.tx() as c:  # the dashboard checks its town filter against the loaded county
        load_county(c, load_profile(get_settings().county_profile), source="test")
    _paid_county(db)
    app = create_app(db)
    reg = _login(app, db, "pboc", "regulator")
    day = {"start": DAY.isoformat(), "end": DAY.isoformat()}
    cases = [
        ({"town": POWER_TOWN}, {"town_code": POWER_TOWN}, (2, 15_050)),
        ({"channel": "wechat"}, {"channel": "wechat"}, (2, 2 * 4560)),
        ({"channel": "alipay"}, {"channel": "alipay"}, (2, 4560 + 5_050)),
        ({"category": "water"}, {"category": "water"}, (4, 4 * 4560)),
        ({"category": "water", "channel": "alipay"}, {"category": "water", "channel": "alipay"}, (1, 4560)),
    ]
    for params, where, expected in cases:
        assert own(db, **where) == expected, params
        r = reg.get("/console/regulator/public-services", params={**day, **params})
        assert r.status_code == 200, r.text
        assert _total(r.text) == expected, params
        shown = _rows(r.text, "by-channel")
        assert sum(n for n, _ in shown.values()) == expected[0], params
    # the dashboard's line takes its own filters, and links to the page with them
    for params, cond in (
        ({"town": POWER_TOWN}, {"town_code": POWER_TOWN}),
        ({"channel": "alipay"}, {"channel": "alipay"}),
    ):
        r = reg.get("/console/regulator/kpi", params={**day, **params})
        assert r.status_code == 200, r.text
        cell = r.text.split("data-public-services>", 1)[1].split("</td>", 1)[0]
        n, _a = own(db, **cond)
        assert f">{n}</a>" in cell, (params, cell)
        assert next(iter(params.values())) in cell  # the link carries the filter
    # the acquirer serving the biller (the dashboard's institution)
    with db.read() as c:
        assert bills.kpi_public_services(c, DAY, DAY, institution="yiyuan_rcb")["count"] == 6
        assert bills.kpi_public_services(c, DAY, DAY, institution="no_such_bank")["count"] == 0
    r = reg.get("/console/regulator/public-services", params={**day, "town": "999"})
    assert (
        r.status_code == 400
        and 'data-field="town"' in r.text
        and "乡镇" not in r.text.split("ps-error", 1)[0][-5:]
    )
