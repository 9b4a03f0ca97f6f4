"""Biometric (face) pay (刷脸支付): simulated rail; a real connector replaces this module behind the same protocol."""

from zhifu.channels._families import UnionPayFamily


class Face(UnionPayFamily):
    name = "face"
    label_zh = "刷脸支付"
    label_en = "Biometric (face) pay"
    mobile = True
    card_types = ("debit", "credit")


channel = Face()
