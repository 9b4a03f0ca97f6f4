"""The MCC reference list: the codes the county needs, with the right names, and clear errors."""

from __future__ import annotations

import pytest

from zhifu.core.errors import InvalidRequest
from zhifu.reference import all_mccs, get_mcc


@pytest.mark.parametrize(
    ("code", "zh_fragment", "en_fragment"),
    [
        ("5411", "超市", "Grocery"),
        ("5812", "餐馆", "Restaurants"),
        ("5541", "加油站", "Service Stations"),
        ("5912", "药店", "Pharmacies"),
        ("7011", "宾馆", "Hotels"),
        ("4111", "通勤客运", "Commuter"),
        ("4900", "公共事业", "Utilities"),
        ("8211", "中小学", "Secondary Schools"),
        ("7991", "旅游景点", "Tourist Attractions"),
        ("5462", "面包", "Bakeries"),
        ("5499", "便利店", "Convenience"),
        ("0763", "农业合作", "Agricultural Cooperatives"),
        ("5261", "花园用品", "Garden Supply"),
        ("9311", "纳税", "Tax"),
    ],
)
def test_known_codes_have_the_right_names(code: str, zh_fragment: str, en_fragment: str) -> None:
    mcc = get_mcc(code)
    assert zh_fragment in mcc.name_zh
    assert en_fragment in mcc.name_en


def test_list_is_large_sorted_and_well_formed() -> None:
    mccs = all_mccs()
    assert len(mccs) >= 80
    codes = [m.code for m in mccs]
    assert codes == sorted(set(codes))
    assert all(len(c) == 4 and c.isdigit() for c in codes)
    assert all(m.name_zh and m.name_en and m.group for m in mccs)


@pytest.mark.parametrize("code", ["1234", "541", "05411", 5411])
def test_unknown_codes_raise_with_the_field(code: object) -> None:
    with pytest.raises(InvalidRequest) as exc:
        get_mcc(code, param="merchant.mcc")  # type: ignore[arg-type]
    assert exc.value.param == "merchant.mcc"
    assert "unknown merchant category code" in exc.value.message
