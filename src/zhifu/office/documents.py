"""Documents the office issues, as PDF in Chinese with English: 会商纪要 (minutes with the decisions, owners and
due dates) and the merchant's signed turnover evidence for a lender."""

from __future__ import annotations

from typing import Any

from zhifu.core.money import fen_to_yuan_str


def _doc(title: str) -> Any:
    from fpdf import FPDF

    from zhifu.assets.fonts import cjk_font_path

    doc = FPDF(unit="mm", format="A4")
    doc.add_font("cjk", fname=str(cjk_font_path()))
    doc.set_auto_page_break(True, margin=15)
    doc.add_page()
    doc.set_font("cjk", size=16)
    doc.cell(0, 12, title, new_x="LMARGIN", new_y="NEXT", align="C")
    doc.set_font("cjk", size=10)
    return doc


def _pairs(doc: Any, rows: list[tuple[str, str]]) -> None:
    for label, value in rows:
        doc.set_x(doc.l_margin)
        doc.cell(45, 7, label)
        doc.multi_cell(0, 7, value, new_x="LMARGIN", new_y="NEXT")


def minutes_pdf(meeting: dict[str, Any], document: str, items: dict[int, str]) -> bytes:
    """The minutes of one 会商: date, units present, problems, and each decision with owner and due date."""
    doc = _doc("重点难点问题会商纪要 / Minutes of the joint consultation")
    _pairs(
        doc,
        [
            ("依据 Programme", document),
            ("会商 Meeting", meeting["title"]),
            ("日期 Date", str(meeting["held_on"])),
            ("参会单位 Units present", "、".join(meeting["present_names"])),
            ("记录 Recorded by", meeting["created_by"]),
            ("编号 Reference", meeting["id"]),
        ],
    )
    doc.ln(3)
    doc.set_font("cjk", size=12)
    doc.cell(0, 8, "一、会商问题 / Problems raised", new_x="LMARGIN", new_y="NEXT")
    doc.set_font("cjk", size=10)
    doc.multi_cell(0, 6, meeting["problems"], new_x="LMARGIN", new_y="NEXT")
    doc.ln(3)
    doc.set_font("cjk", size=12)
    doc.cell(0, 8, "二、议定事项 / Decisions", new_x="LMARGIN", new_y="NEXT")
    doc.set_font("cjk", size=10)
    if not meeting["actions"]:
        doc.multi_cell(0, 6, "无 / none", new_x="LMARGIN", new_y="NEXT")
    for i, a in enumerate(meeting["actions"], start=1):
        item_title = items.get(a["item"], "")
        doc.multi_cell(0, 6, f"{i}. {a['decision']}", new_x="LMARGIN", new_y="NEXT")
        doc.multi_cell(
            0,
            6,
            f"    工作事项 Item {a['item']} {item_title} · 责任单位 Owner: {a['owner_name']} · "
            f"完成期限 Due: {a['due']} · 状态 Status: {a['status']}",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    return bytes(doc.output())


def _pct(ppm: int | None) -> str:
    return "—" if ppm is None else f"{ppm / 10_000:.1f}%"


def evidence_pdf(ev: dict[str, Any], lender_name: str, public_key_pem: str) -> bytes:
    """The turnover evidence a merchant hands to a lender: figures, the monthly table and the signature."""
    doc = _doc("商户经营流水证明 / Merchant turnover evidence")
    _pairs(
        doc,
        [
            ("商户 Merchant", f"{ev['merchant_name']} ({ev['merchant_id']})"),
            ("贷款机构 Lender", f"{lender_name} ({ev['lender']})"),
            ("同意记录 Consent", ev["consent"]),
            ("出具时间 Issued", ev["issued_at"]),
            ("证明编号 Reference", ev["id"]),
            ("统计月数 Months", str(ev["months_asked"])),
            ("流水合计 Takings", f"¥{fen_to_yuan_str(ev['takings_fen'])}"),
            ("月均 Average month", f"¥{fen_to_yuan_str(ev['average_month_fen'])}"),
            ("经营连续性 Regularity", _pct(ev["regularity_ppm"]) + " 的月份有收款 / of months with takings"),
            ("退款率 Refund rate", _pct(ev["refund_rate_ppm"])),
            ("开通时长 Tenure", f"{ev['tenure_days']} 天 / days"),
        ],
    )
    doc.ln(2)
    doc.set_font("cjk", size=11)
    doc.cell(0, 8, "按月流水 / By month", new_x="LMARGIN", new_y="NEXT")
    doc.set_font("cjk", size=10)
    for label, w in (("月份 Month", 40), ("笔数 Count", 40), ("金额 Amount", 50), ("退款 Refunded", 50)):
        doc.cell(w, 7, label, border=1)
    doc.ln()
    for m in ev["monthly"]:
        doc.cell(40, 7, m["month"], border=1)
        doc.cell(40, 7, str(m["count"]), border=1, align="R")
        doc.cell(50, 7, fen_to_yuan_str(m["amount_fen"]), border=1, align="R")
        doc.cell(50, 7, fen_to_yuan_str(m["refunded_fen"]), border=1, align="R")
        doc.ln()
    doc.ln(4)
    doc.set_font("cjk", size=8)
    doc.multi_cell(
        0,
        4,
        "本证明经商户同意向上述贷款机构提供，每次提供均记入审计日志。签名为对证明内容（规范 JSON）的 Ed25519 签名。\n"
        "Provided to the lender above with the merchant's consent; every disclosure is in the audit log. "
        "The signature is Ed25519 over the evidence's canonical JSON.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    doc.multi_cell(
        0,
        4,
        f"摘要 SM3 digest: {ev['digest']}\n签名 Signature ({ev['key_id']}): {ev['signature']}\n"
        + public_key_pem,
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(doc.output())
