"""NFC phone pay (QuickPass) (手机闪付): simulated rail; a real connector replaces this module behind the same protocol."""

from zhifu.channels._families import UnionPayFamily


class Nfc(UnionPayFamily):
    name = "nfc"
    label_zh = "手机闪付"
    label_en = "NFC phone pay (QuickPass)"
    mobile = True
    card_types = ("debit", "credit")


channel = Nfc()
