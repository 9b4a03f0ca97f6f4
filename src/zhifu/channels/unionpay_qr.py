"""UnionPay QR and UnionPay app (云闪付/银联二维码): simulated rail; a real connector replaces this module behind the same protocol."""

from zhifu.channels._families import UnionPayFamily


class UnionpayQr(UnionPayFamily):
    name = "unionpay_qr"
    label_zh = "云闪付/银联二维码"
    label_en = "UnionPay QR and UnionPay app"
    mobile = True
    card_types = ("debit", "credit")


channel = UnionpayQr()
