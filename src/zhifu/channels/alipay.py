"""Alipay (支付宝): simulated rail; a real connector replaces this module behind the same protocol."""

from zhifu.channels._families import AlipayFamily


class Alipay(AlipayFamily):
    name = "alipay"
    label_zh = "支付宝"
    label_en = "Alipay"
    mobile = True
    card_types = ("wallet", "debit", "credit")


channel = Alipay()
