"""E-receipts: a canonical JSON body signed with the platform's Ed25519 key (derived from the platform secret),
so anyone holding the published public key can prove a receipt genuine and unaltered; a PDF with a QR code of
the verification address."""

from __future__ import annotations

import io
import json
from typing import Any

import segno

from zhifu.core import signing
from zhifu.core.config import get_settings
from zhifu.core.money import fen_to_yuan_str

KEY_ID = "rcpt-ed25519-1"
LABEL = b"zhifu-receipts"


def public_key_pem() -> str:
    return signing.public_key_pem(LABEL, KEY_ID)


def canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def sign(body_text: str) -> str:
    return signing.b64url(signing.private_key(LABEL, KEY_ID).sign(body_text.encode()))


def verify(body_text: str, signature: str) -> bool:
    return signing.verifies(signing.private_key(LABEL, KEY_ID).public_key(), signature, body_text.encode())


def verify_url(receipt_no: str, signature: str) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/receipts/{receipt_no}?sig={signature}"


def qr_svg(data: str) -> str:
    out = io.BytesIO()
    segno.make_qr(data, error="m").save(out, kind="svg", scale=3, xmldecl=False, svgns=True)
    return out.getvalue().decode()


def pdf(receipt: dict[str, Any]) -> bytes:
    """The receipt as a one-page A5 PDF in Chinese and English, with the verification QR code."""
    from fpdf import FPDF

    from zhifu.assets.fonts import cjk_font_path

    b = receipt["body"]
    doc = FPDF(unit="mm", format=(148, 210))
    doc.add_font("cjk", fname=str(cjk_font_path()))
    doc.add_page()
    doc.set_font("cjk", size=15)
    doc.cell(0, 10, "电子缴费凭证 / E-receipt", new_x="LMARGIN", new_y="NEXT", align="C")
    doc.set_font("cjk", size=10)
    lines = [
        ("凭证号 Receipt no.", b["receipt_no"]),
        ("缴费单位 Biller", b["biller_name"]),
        ("户号 Account", b["account_masked"]),
        ("户名 Payer", b["payer_masked"]),
        ("账期 Period", b.get("period") or "—"),
        ("金额 Amount", f"¥{fen_to_yuan_str(b['amount_fen'])}"),
        ("缴费时间 Paid at", b["paid_at"]),
        ("支付渠道 Channel", b["channel"]),
        ("支付单号 Payment id", b["payment_id"]),
    ]
    if b.get("refunded_fen"):
        lines.append(("已退款 Refunded", f"¥{fen_to_yuan_str(b['refunded_fen'])}"))
    if b.get("replaces"):
        lines.append(("替代凭证 Replaces", b["replaces"]))
    for label, value in lines:
        doc.cell(45, 7, label)
        doc.cell(0, 7, str(value), new_x="LMARGIN", new_y="NEXT")
    qr = segno.make_qr(receipt["verify_url"], error="m")
    png = io.BytesIO()
    qr.save(png, kind="png", scale=4)
    png.seek(0)
    doc.image(png, x=doc.w / 2 - 20, y=doc.get_y() + 4, w=40)
    doc.set_y(doc.get_y() + 48)
    doc.set_font("cjk", size=8)
    doc.multi_cell(0, 4, "扫码核验真伪 / scan to verify this receipt\n" + receipt["verify_url"], align="C")
    return bytes(doc.output())
