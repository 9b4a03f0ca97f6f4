"""Bank card at a POS (银行卡): simulated rail; a real connector replaces this module behind the same protocol."""

from zhifu.channels._families import UnionPayFamily


class UnionpayCard(UnionPayFamily):
    name = "unionpay_card"
    label_zh = "银行卡"
    label_en = "Bank card at a POS"
    mobile = False
    card_types = ("debit", "credit")


channel = UnionpayCard()
