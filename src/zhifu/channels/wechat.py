"""WeChat Pay (微信支付): simulated rail; a real connector replaces this module behind the same protocol."""

from zhifu.channels._families import WeChatFamily


class Wechat(WeChatFamily):
    name = "wechat"
    label_zh = "微信支付"
    label_en = "WeChat Pay"
    mobile = True
    card_types = ("wallet", "debit", "credit")


channel = Wechat()
