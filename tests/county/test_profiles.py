"""Both packaged profiles load; broken profiles fail with the field path and a clear message."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from zhifu.core.errors import InvalidRequest
from zhifu.county import CountyProfile, available_profiles, load_profile
from zhifu.county.loader import _read

YIYUAN_TOWNS = {
    "历山街道", "南麻街道", "鲁村镇", "大张庄镇", "中庄镇", "张家坡镇",
    "燕崖镇", "石桥镇", "东里镇", "悦庄镇", "西里镇", "南鲁山镇",
}  # fmt: skip


def _yiyuan_data() -> dict[str, Any]:
    return yaml.safe_load(_read("yiyuan")[1])


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_both_profiles_are_shipped() -> None:
    assert {"yiyuan", "demo_small"} <= set(available_profiles())


def test_yiyuan_profile() -> None:
    p = load_profile("yiyuan")
    assert p.name == "沂源县" and p.area_code == "370323"
    assert {t.name for t in p.towns} == YIYUAN_TOWNS
    assert {t.name for t in p.towns if t.area_type == "urban"} == {"历山街道", "南麻街道"}
    assert 500_000 <= p.population <= 600_000
    assert 0 < p.urban_population < p.population
    assert {p.town(code).name for code in p.pilot_towns} == {"悦庄镇", "石桥镇"}
    assert len(p.commerce_circles) >= 10
    rural = [i for i in p.institutions if i.is_county_rural]
    assert [i.name for i in rural] == ["沂源农商银行"]
    assert {"邮储银行", "工商银行", "农业银行", "中国银行", "建设银行"} <= {i.name for i in p.institutions}
    assert any(i.name == "银联山东分公司" and i.roles == ["network"] for i in p.institutions)
    assert {b.kind for b in p.billers} >= {
        "water",
        "power",
        "gas",
        "heating",
        "school",
        "social_insurance",
        "bus",
    }
    assert any(b.name == "鲁山森林公园" and b.kind == "scenic" for b in p.billers)
    assert all(t.businesses.total > 0 for t in p.towns)
    assert all(any(v.town == t.code for v in p.villages) for t in p.towns)
    assert all(v.generated for v in p.villages)


def test_yiyuan_targets_match_the_plan() -> None:
    targets = {t.id: t for t in load_profile("yiyuan").targets}
    assert targets["rural_cards_2021"].value == 1_000_000
    assert targets["rural_cards_2022"].value == 1_200_000
    assert targets["mobile_users_2021"].value == 150_000
    assert targets["mobile_users_2022"].value == 200_000
    assert (
        targets["bank_standard_share_2022"].value == 600_000
        and targets["bank_standard_share_2022"].unit == "ppm"
    )
    assert targets["unionpay_app_count_growth"].value == 300_000
    assert targets["pilot_rcb_merchants"].value == 6_000
    assert targets["pilot_rcb_merchants"].institution == "yiyuan_rcb"
    assert targets["pilot_psbc_mobile_users"].institution == "psbc"
    assert targets["pilot_commerce_circles"].value == 10


def _names(p: CountyProfile) -> set[str]:
    return {t.name for t in p.towns} | {v.name for v in p.villages} | {i.name for i in p.institutions}


def test_demo_profile_shares_no_names_with_yiyuan() -> None:
    demo, yiyuan = load_profile("demo_small"), load_profile("yiyuan")
    assert demo.name != yiyuan.name
    assert not _names(demo) & _names(yiyuan)
    assert demo.pilot_towns and demo.town(demo.pilot_towns[0]).name == "青石镇"


def test_profile_loads_from_a_path(tmp_path: Path) -> None:
    assert load_profile(_write(tmp_path, _yiyuan_data())).name == "沂源县"


def test_unknown_profile_lists_the_available_ones() -> None:
    with pytest.raises(InvalidRequest) as exc:
        load_profile("atlantis")
    assert exc.value.param == "profile"
    assert "yiyuan" in exc.value.message and "demo_small" in exc.value.message


def _mutated(mutate: Any) -> dict[str, Any]:
    data = copy.deepcopy(_yiyuan_data())
    mutate(data)
    return data


@pytest.mark.parametrize(
    ("mutate", "param", "fragment"),
    [
        (lambda d: d["villages"][0].update(town="370323999"), "villages.0.town", "unknown town"),
        (lambda d: d["towns"][2].update(population=-1), "towns.2.population", "greater than or equal to 0"),
        (lambda d: d["towns"][1].update(code=d["towns"][0]["code"]), "towns.code", "duplicate"),
        (lambda d: d["pilot_towns"].append("370323777"), "pilot_towns.2", "unknown town"),
        (lambda d: d["billers"][0].update(settlement_institution="nobank"), "billers.0.settlement_institution", "nobank"),
        (lambda d: d["billers"][1].update(mcc="1234"), "billers.1.mcc", "unknown MCC"),
        (lambda d: d["commerce_circles"][0].update(lead_acquirer="unionpay_sd"), "commerce_circles.0.lead_acquirer", "not an acquirer"),
        (lambda d: d["targets"][0].update(institution="ghost"), "targets.0.institution", "ghost"),
        (lambda d: d["mcc_mix"]["rural"].update({"0001": 3}), "mcc_mix.rural.0001", "unknown MCC"),
        (lambda d: d["mcc_mix"].pop("urban"), "mcc_mix.urban", "need an MCC mix"),
        (lambda d: d["villages"][0].update(population=10_000_000), "villages", "more than the town"),
        (lambda d: d["towns"][0].update(colour="red"), "towns.0.colour", "Extra inputs"),
        (lambda d: d.pop("institutions"), "institutions", "Field required"),
    ],
)  # fmt: skip
def test_broken_profiles_name_the_field(tmp_path: Path, mutate: Any, param: str, fragment: str) -> None:
    path = _write(tmp_path, _mutated(mutate))
    with pytest.raises(InvalidRequest) as exc:
        load_profile(path)
    assert exc.value.param == param
    assert fragment in exc.value.message
    assert exc.value.code == "invalid_profile"


def test_mcc_codes_must_be_quoted_strings(tmp_path: Path) -> None:
    path = tmp_path / "octal.yaml"
    text = _read("yiyuan")[1].replace('"0763": 4', "0763: 4")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidRequest) as exc:
        load_profile(path)
    assert exc.value.param.startswith("mcc_mix.rural")


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("towns: [unclosed", encoding="utf-8")
    with pytest.raises(InvalidRequest, match="not valid YAML"):
        load_profile(broken)
    with pytest.raises(InvalidRequest, match="not found"):
        load_profile(tmp_path / "absent.yaml")
