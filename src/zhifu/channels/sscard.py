"""Electronic social-security card (电子社保卡): simulated rail; a real connector replaces this module behind the same protocol."""

from zhifu.channels._families import UnionPayFamily


class Sscard(UnionPayFamily):
    name = "sscard"
    label_zh = "电子社保卡"
    label_en = "Electronic social-security card"
    mobile = True
    card_types = ("debit",)


channel = Sscard()
