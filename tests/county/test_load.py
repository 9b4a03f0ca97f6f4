"""`zhifu county load` stores a profile as reference tables; a bad profile writes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from zhifu.cli import app
from zhifu.core.config import get_settings
from zhifu.core.errors import ConflictError, InvalidRequest
from zhifu.county import load_profile
from zhifu.county.loader import _read
from zhifu.county.service import coverage, link_merchants, load_county, loaded_county, register_businesses
from zhifu.county.tables import county_businesses, county_info, county_targets, county_towns, county_villages
from zhifu.db import Database
from zhifu.db.schema import metadata


def _count(db: Database, table) -> int:  # type: ignore[no-untyped-def]
    with db.tx() as c:
        return int(c.execute(select(func.count()).select_from(table)).scalar_one())


def test_load_stores_the_profile_and_reloading_refreshes_it(db: Database) -> None:
    p = load_profile("yiyuan")
    with db.tx() as c:
        counts = load_county(c, p, source="yiyuan")
    assert counts["towns"] == 12 and counts["registered_businesses"] == p.registered_businesses
    with db.tx() as c:
        assert loaded_county(c) == "yiyuan"
        pilots = set(c.execute(select(county_towns.c.name).where(county_towns.c.pilot)).scalars())
        assert pilots == {"悦庄镇", "石桥镇"}
        target = c.execute(select(county_targets).where(county_targets.c.id == "mobile_users_2022")).one()
        assert (target.value, target.deadline) == (200_000, dt.date(2022, 12, 31))
    with db.tx() as c:
        load_county(c, p, source="yiyuan")
    assert _count(db, county_towns) == 12 and _count(db, county_villages) == len(p.villages)


def test_another_county_needs_replace(db: Database) -> None:
    with db.tx() as c:
        load_county(c, load_profile("demo_small"), source="demo_small")
        register_businesses(
            c,
            [
                {
                    "credit_code": "92990101MA0000000X",
                    "town_code": "990101101",
                    "kind": "enterprise",
                    "name": "青石镇某商店",
                    "mcc": "5411",
                    "registered_on": dt.date(2021, 1, 1),
                }
            ],
        )
    with pytest.raises(ConflictError) as info, db.tx() as c:
        load_county(c, load_profile("yiyuan"), source="yiyuan")
    assert info.value.code == "county_already_loaded"
    assert _count(db, county_towns) == 4
    with db.tx() as c:
        load_county(c, load_profile("yiyuan"), source="yiyuan", replace=True)
        assert loaded_county(c) == "yiyuan"
    assert _count(db, county_businesses) == 0 and _count(db, county_info) == 1


def test_register_and_coverage(db: Database) -> None:
    with db.tx() as c:
        load_county(c, load_profile("demo_small"), source="demo_small")
        rows = [
            {
                "credit_code": f"92990101MA00000{i:02d}X",
                "town_code": "990101101",
                "kind": "individual_business",
                "name": f"店{i}",
                "mcc": "5411",
                "registered_on": dt.date(2021, 1, 1),
            }
            for i in range(4)
        ]
        register_businesses(c, rows)
        link_merchants(c, [(rows[0]["credit_code"], "mch_x")])
        with pytest.raises(InvalidRequest) as info:
            register_businesses(c, [{**rows[0], "credit_code": "X", "town_code": "990101999"}])
        assert info.value.param == "businesses.0.town_code"
        by_town = {r["town_code"]: r for r in coverage(c)}
    assert (by_town["990101101"]["registered"], by_town["990101101"]["covered"]) == (4, 1)
    assert by_town["990101101"]["coverage_ppm"] == 250_000 and by_town["990101001"]["registered"] == 0


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path}/cli.db"
    database = Database(url)
    metadata.create_all(database.engine)
    monkeypatch.setenv("ZHIFU_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        yield database
    finally:
        get_settings.cache_clear()
        database.dispose()


def test_cli_load_and_bad_profiles_write_nothing(cli_db: Database, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["county", "load", "nowhere"])
    assert r.exit_code == 1 and "unknown county profile 'nowhere'" in r.output
    data = yaml.safe_load(_read("demo_small")[1])
    data["villages"][0]["town"] = "990101999"  # a village of a town the profile does not have
    (tmp_path / "missing_town.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    r = runner.invoke(app, ["county", "load", str(tmp_path / "missing_town.yaml")])
    assert r.exit_code == 1 and "villages.0.town" in r.output and "unknown town" in r.output
    data = yaml.safe_load(_read("demo_small")[1])
    data["towns"][1]["population"] = -5
    (tmp_path / "negative.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    r = runner.invoke(app, ["county", "load", str(tmp_path / "negative.yaml")])
    assert r.exit_code == 1 and "towns.1.population" in r.output
    assert _count(cli_db, county_info) == 0 and _count(cli_db, county_towns) == 0
    r = runner.invoke(app, ["county", "load", "demo_small"])
    assert r.exit_code == 0, r.output
    assert "towns 4" in r.output and _count(cli_db, county_towns) == 4
    r = runner.invoke(app, ["county", "coverage"])
    assert r.exit_code == 0 and "青石镇 (pilot)" in r.output
