"""What a county's shops look like: typical amounts per category, how often each sells, and generated names
(surnames, shop words) for simulated businesses and their owners."""

from __future__ import annotations

import dataclasses
import random


@dataclasses.dataclass(frozen=True, slots=True)
class Category:
    median_fen: int  # a typical payment
    spread: float  # log-normal sigma of amounts
    daily: float  # relative number of payments per day
    word: str  # what the shop calls itself
    refund_ppm: int = 3_000
    terminal_ppm: int = 50_000  # share of payments taken by card terminal (card, NFC)


DEFAULT = Category(6_000, 0.8, 1.0, "商行")
CATEGORIES: dict[str, Category] = {
    "0763": Category(45_000, 0.9, 0.4, "专业合作社", 2_000, 200_000),
    "4214": Category(60_000, 0.8, 0.3, "物流", 2_000, 150_000),
    "5251": Category(4_500, 0.9, 0.8, "五金店"),
    "5261": Category(9_000, 0.9, 0.7, "农资店", 3_000, 100_000),
    "5331": Category(2_500, 0.8, 1.3, "杂货店"),
    "5411": Category(3_500, 0.9, 2.2, "超市", 2_000, 80_000),
    "5462": Category(1_500, 0.5, 1.5, "面包房"),
    "5499": Category(1_800, 0.8, 1.8, "便利店"),
    "5541": Category(22_000, 0.5, 1.6, "加油站", 1_000, 300_000),
    "5599": Category(150_000, 0.9, 0.1, "农机销售", 5_000, 400_000),
    "5661": Category(16_000, 0.5, 0.4, "鞋店", 15_000),
    "5691": Category(15_000, 0.6, 0.6, "服装店", 15_000),
    "5722": Category(90_000, 0.9, 0.2, "家电", 8_000, 300_000),
    "5732": Category(30_000, 1.0, 0.3, "数码店", 8_000, 200_000),
    "5812": Category(6_500, 0.7, 1.6, "饭店"),
    "5814": Category(1_200, 0.5, 2.4, "早餐店"),
    "5912": Category(4_500, 0.8, 0.9, "大药房", 2_000, 300_000),
    "5943": Category(1_500, 0.7, 0.6, "文具店"),
    "5977": Category(8_000, 0.7, 0.4, "化妆品店", 10_000),
    "5983": Category(20_000, 0.6, 0.3, "燃料站", 2_000),
    "5992": Category(6_000, 0.6, 0.3, "花店"),
    "5993": Category(3_000, 0.6, 1.2, "烟酒店"),
    "5999": Category(5_000, 0.9, 0.7, "商店"),
    "7011": Category(18_000, 0.5, 0.4, "宾馆", 10_000, 200_000),
    "7230": Category(4_000, 0.6, 0.7, "理发店"),
    "7299": Category(5_000, 0.7, 0.4, "生活服务"),
    "7538": Category(20_000, 0.9, 0.3, "汽修厂", 4_000, 200_000),
    "7991": Category(6_000, 0.4, 0.8, "景区", 6_000),
    "7999": Category(5_000, 0.6, 0.4, "农家乐"),
    "8011": Category(8_000, 0.8, 0.5, "诊所", 3_000, 200_000),
    "8299": Category(30_000, 0.8, 0.2, "培训学校", 10_000),
}

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅建国志文斌海波宁鹏飞云凤玲晶春雪亮成林庆"
BRANDS = "鑫源鲁沂泉丰盛福康和顺祥瑞兴隆嘉恒宏达金泰聚德润华信诚"
CROPS = ("苹果", "蔬菜", "桃", "黄烟", "花生", "中药材", "食用菌", "畜禽", "蜂业", "核桃")


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def category(mcc: str) -> Category:
    return CATEGORIES.get(mcc, DEFAULT)


def business_name(
    rng: random.Random, kind: str, county: str, place: str, mcc: str, owner: str
) -> tuple[str, str]:
    """A legal name and a short name (at most 25 characters) for a simulated business."""
    word = category(mcc).word
    if kind == "cooperative":
        crop = rng.choice(CROPS)
        return f"{county}{place}{crop}{word}", f"{place}{crop}合作社"[:25]
    if kind == "enterprise":
        brand = rng.choice(BRANDS) + rng.choice(BRANDS)
        return f"{county}{brand}{word}有限公司", f"{brand}{word}"[:25]
    return f"{county}{place}{owner[0]}记{word}", f"{owner[0]}记{word}"[:25]
