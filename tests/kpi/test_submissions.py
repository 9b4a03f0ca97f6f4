"""Issuers' submissions over the API, as a CSV on the command line, and the cards-issued figure they feed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from zhifu.county import load_profile
from zhifu.county.service import load_county
from zhifu.kpi import service
from zhifu.kpi.models import kpi_submissions

GOOD = {
    "institution": "hechuan_rcb",
    "town_code": "990101101",
    "month": "2022-03",
    "cards_issued": 4200,
    "app_users": 900,
}


@pytest.fixture
def issuers(platform):  # type: ignore[no-untyped-def]
    with platform.db.tx() as c:
        load_county(c, load_profile("demo_small"), source="demo_small")
    return platform


def _count(platform) -> int:  # type: ignore[no-untyped-def]
    with platform.db.read() as c:
        return int(c.execute(select(func.count()).select_from(kpi_submissions)).scalar_one())


def test_submission_and_correction_are_versions(issuers, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    cl, op = issuers.client, issuers.op
    r = cl.post("/v1/submissions", json=GOOD, headers=op)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1 and r.json()["cards_issued"] == 4200
    r = cl.post("/v1/submissions", json={**GOOD, "cards_issued": 4300}, headers=op)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "duplicate_period" and r.json()["error"]["param"] == "month"
    r = cl.post("/v1/submissions", json={**GOOD, "cards_issued": 4300, "correction": True}, headers=op)
    assert r.status_code == 200 and r.json()["version"] == 2
    cl.post("/v1/submissions", json={**GOOD, "month": "2022-01", "cards_issued": 1000}, headers=op)
    cl.post("/v1/submissions", json={**GOOD, "institution": "demo_city_bank", "cards_issued": 50}, headers=op)
    listed = cl.get("/v1/submissions", headers=op).json()["data"]
    assert [(s["month"], s["version"]) for s in listed if s["institution"] == "hechuan_rcb"] == [
        ("2022-03", 2),
        ("2022-03", 1),
        ("2022-01", 1),
    ]
    with issuers.db.read() as c:
        assert (
            service.issued(c, "2022-02", rural_only=True)["cards_issued"] == 1000
        )  # January carried forward
        assert service.issued(c, "2022-03", rural_only=True)["cards_issued"] == 4300  # the correction counts
        assert service.issued(c, "2022-03")["cards_issued"] == 4350
        assert service.issued(c, "2021-12")["cards_issued"] == 0


@pytest.mark.parametrize(
    ("change", "param", "status"),
    [
        ({"institution": "nobank"}, "institution", 400),
        ({"town_code": "990101999"}, "town_code", 400),
        ({"cards_issued": -1}, "cards_issued", 400),
        ({"app_users": "many"}, "app_users", 400),
        ({"month": "2022-13"}, "month", 400),
        ({"month": "2031-01"}, "month", 400),
        ({"extra": 1}, "extra", 400),
    ],
)
def test_bad_submissions_are_refused_by_field(issuers, fixed_clock, change, param, status) -> None:  # type: ignore[no-untyped-def]
    r = issuers.client.post("/v1/submissions", json={**GOOD, **change}, headers=issuers.op)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
    assert param in r.json()["error"]["message"]
    assert _count(issuers) == 0


def test_a_correction_needs_something_to_correct(issuers, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    r = issuers.client.post("/v1/submissions", json={**GOOD, "correction": True}, headers=issuers.op)
    assert r.status_code == 400 and r.json()["error"]["code"] == "nothing_to_correct"


def test_merchant_keys_may_not_submit(issuers) -> None:  # type: ignore[no-untyped-def]
    _, headers = issuers.merchant()
    r = issuers.client.post("/v1/submissions", json=GOOD, headers=headers)
    assert r.status_code == 403 and _count(issuers) == 0


def test_csv_lines_are_named_and_nothing_is_written(
    issuers, fixed_clock, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from zhifu.cli import app
    from zhifu.core.config import get_settings

    monkeypatch.setenv("ZHIFU_DATABASE_URL", str(issuers.db.engine.url.render_as_string(hide_password=False)))
    get_settings.cache_clear()
    head = "institution,town_code,month,cards_issued,app_users\n"
    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    bad.write_text(head + "hechuan_rcb,990101101,2022-01,10,1\nhechuan_rcb,990101101,2022-02,-5,1\n", "utf-8")
    r = runner.invoke(app, ["kpi", "submit", str(bad)])
    assert r.exit_code == 1 and "line 3" in r.output and "cards_issued" in r.output
    dup = tmp_path / "dup.csv"
    dup.write_text(
        head + "hechuan_rcb,990101101,2022-01,10,1\n\nhechuan_rcb,990101101,2022-01,11,1\n", "utf-8"
    )
    r = runner.invoke(app, ["kpi", "submit", str(dup)])
    assert r.exit_code == 1 and "line 4" in r.output and "duplicate" in r.output
    unknown = tmp_path / "unknown.csv"
    unknown.write_text(head + "hechuan_rcb,990101777,2022-01,10,1\n", "utf-8")
    r = runner.invoke(app, ["kpi", "submit", str(unknown)])
    assert r.exit_code == 1 and "line 2" in r.output and "town_code" in r.output
    assert _count(issuers) == 0
    good = tmp_path / "good.csv"
    good.write_text(
        "\ufeff" + head + "hechuan_rcb,990101101,2022-01,10,1\ndemo_city_bank,990101001,2022-01,7,2\n",
        "utf-8",
    )
    r = runner.invoke(app, ["kpi", "submit", str(good)])
    assert r.exit_code == 0, r.output
    assert _count(issuers) == 2
    r = runner.invoke(app, ["kpi", "submit", str(good)])
    assert r.exit_code == 1 and "already on file" in r.output
    r = runner.invoke(app, ["kpi", "submit", str(good), "--correction"])
    assert r.exit_code == 0 and _count(issuers) == 4
    get_settings.cache_clear()
