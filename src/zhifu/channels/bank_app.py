"""A bank's own app (银行App): simulated rail; a real connector replaces this module behind the same protocol."""

from zhifu.channels._families import UnionPayFamily


class BankApp(UnionPayFamily):
    name = "bank_app"
    label_zh = "银行App"
    label_en = "A bank's own app"
    mobile = True
    card_types = ("debit", "credit")


channel = BankApp()
