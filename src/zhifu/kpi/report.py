"""The monthly report in Chinese: the month against the targets, by town and by institution, with charts; as an
Excel workbook (openpyxl) or a PDF (fpdf2, with the bundled CJK font, charts drawn with its primitives)."""

from __future__ import annotations

import calendar
import datetime as dt
import io
import re
from typing import Any

from sqlalchemy import Connection

from zhifu.channels import REGISTRY
from zhifu.core.errors import InvalidRequest
from zhifu.core.money import format_fen
from zhifu.county import read as county_read
from zhifu.kpi import service

FORMATS = ("xlsx", "pdf")


def month_range(month: str) -> tuple[dt.date, dt.date]:
    m = re.fullmatch(r"(\d{4})-(0[1-9]|1[0-2])", month or "")
    if m is None:
        raise InvalidRequest(f"month must be YYYY-MM, got {month!r}", param="month")
    y, mo = int(m.group(1)), int(m.group(2))
    return dt.date(y, mo, 1), dt.date(y, mo, calendar.monthrange(y, mo)[1])


def _pct(ppm: int | None) -> str:
    return "—" if ppm is None else f"{ppm / 10_000:.1f}%"


def _fmt(value: int | None, unit: str) -> str:
    if value is None:
        return "暂无数据"
    return _pct(value) if unit == "ppm" else f"{value:,}"


def collect(conn: Connection, month: str) -> dict[str, Any]:
    """Every figure the report shows, for one calendar month (a month still running: as of today, so its targets,
    tables and summary are all measured on the same day)."""
    from zhifu.core.clock import now, to_shanghai

    start, end = month_range(month)
    end = max(start, min(end, to_shanghai(now()).date()))
    f = service.Filters(start, end)
    towns = service.by_town(conn, f)
    cov = service.coverage(conn, end)
    county = county_read.county_name(conn)
    names = county_read.town_names(conn)
    town_rows = []
    for c in cov["towns"]:
        t = towns.get(c["town_code"], {"count": 0, "amount_fen": 0, "unionpay_count": 0})
        town_rows.append(
            {**c, **t, "active_users": service.active_users(conn, end, dim="town", key=c["town_code"])}
        )
    ytd = service.Filters(dt.date(end.year, 1, 1), end)
    return {
        "month": month,
        "start": start,
        "end": end,
        "county": county,
        "targets": service.targets(conn, end),
        "totals": service.totals(conn, f),
        "active_users": service.active_users(conn, end),
        "unionpay": service.unionpay(conn, f),
        "unionpay_ytd": service.unionpay(conn, ytd),
        "share": service.share(conn, f),
        "channels": service.by_channel(conn, f),
        "institutions": service.by_institution(conn, f),
        "towns": town_rows,
        "town_names": names,
        "coverage": cov,
        "pilot": service.pilot(conn, f),
        "operations": service.operations(conn, f),
        "trend": service.trend(conn, service.Filters(_months_back(end, 11), end)),
    }


def _months_back(end: dt.date, n: int) -> dt.date:
    y, m = end.year, end.month - n
    while m <= 0:
        y, m = y - 1, m + 12
    return dt.date(y, m, 1)


def _target_rows(doc: dict[str, Any]) -> list[list[str]]:
    period = {"2021": "2021年末", "2022": "2022年末", "pilot": "试点期", "annual": "每年"}
    rows = []
    for t in doc["targets"]:
        rows.append(
            [
                t["label_zh"] + (f"（{t['institution']}）" if t["institution"] else ""),
                period.get(t["period"], t["period"]),
                _fmt(t["target"], t["unit"]),
                _fmt(t["value"], t["unit"]),
                _pct(t["progress_ppm"]),
                "达成" if t["met"] else ("暂无数据" if t["value"] is None else "未达成"),
            ]
        )
    return rows


def _town_rows(doc: dict[str, Any]) -> list[list[str]]:
    return [
        [
            t["name"] + ("（试点）" if t["pilot"] else ""),
            "城区" if t["area_type"] == "urban" else "乡镇",
            f"{t['count']:,}",
            format_fen(t["amount_fen"]),
            f"{t['unionpay_count']:,}",
            f"{t['active_users']:,}",
            f"{t['covered']:,}/{t['registered']:,}",
            _pct(t["coverage_ppm"]),
        ]
        for t in doc["towns"]
    ]


def _inst_rows(doc: dict[str, Any]) -> list[list[str]]:
    return [[i["name"], f"{i['count']:,}", format_fen(i["amount_fen"])] for i in doc["institutions"]]


def _summary_rows(doc: dict[str, Any]) -> list[list[str]]:
    up, sh, tot = doc["unionpay"], doc["share"], doc["totals"]
    ops = doc["operations"]
    sub = ops["subsidy"]
    st = ops["settlement"]
    rc = ops["reconciliation"]
    return [
        ["智付交易笔数", f"{tot['count']:,}"],
        ["智付交易金额（元）", format_fen(tot["amount_fen"])],
        ["移动支付活跃用户（近30天）", f"{doc['active_users']:,}"],
        ["云闪付交易笔数 / 同比", f"{up['count']:,} / {_pct(up['count_growth_ppm'])}"],
        ["云闪付交易金额（元）/ 同比", f"{format_fen(up['amount_fen'])} / {_pct(up['amount_growth_ppm'])}"],
        ["银行业标准智付占比（笔数）", _pct(sh["count_share_ppm"])],
        ["银行业标准智付占比（金额）", _pct(sh["amount_share_ppm"])],
        ["商户覆盖率（全县）", _pct(doc["coverage"]["county"]["coverage_ppm"])],
        [
            "商户覆盖率（城区 / 乡镇）",
            f"{_pct(doc['coverage']['areas']['urban']['coverage_ppm'])} / "
            f"{_pct(doc['coverage']['areas']['rural']['coverage_ppm'])}",
        ],
        ["补贴支出（元）", format_fen(sub["amount_fen"]) if sub else "暂无数据"],
        ["结算及时率", _pct(st["on_time_ppm"]) if st else "暂无数据"],
        ["对账差错率", _pct(rc["exception_ppm"]) if rc else "暂无数据"],
        *_complaint_rows(ops.get("complaints")),
        *_public_service_summary(ops.get("public_services")),
    ]


def _complaint_rows(cp: dict[str, Any] | None) -> list[list[str]]:
    """The complaints section: received, decided, on time (within 15 days or a lawful extension), overdue."""
    if not cp:
        return [["投诉按时办结率", "暂无数据"]]
    return [
        ["投诉受理件数 / 已办结 / 逾期未办结", f"{cp['received']:,} / {cp['decided']:,} / {cp['overdue']:,}"],
        ["投诉按时办结率", _pct(cp["timely_ppm"])],
    ]


def _public_service_summary(ps: dict[str, Any] | None) -> list[list[str]]:
    if not ps:
        return [["公共事业缴费", "暂无数据"]]
    return [
        ["公共事业缴费笔数", f"{ps['count']:,}"],
        ["公共事业缴费金额（元）", format_fen(ps["amount_fen"])],
    ]


def _public_service_rows(doc: dict[str, Any]) -> list[list[str]]:
    """Public-service payments by category, town and channel: one row per group, its dimension first."""
    ps = doc["operations"].get("public_services")
    if not ps:
        return []
    names = doc["town_names"]
    rows = [["类别", r["label"], f"{r['count']:,}", format_fen(r["amount_fen"])] for r in ps["by_category"]]
    rows += [
        ["乡镇", names.get(r["town"], r["town"]), f"{r['count']:,}", format_fen(r["amount_fen"])]
        for r in ps["by_town"]
    ]
    rows += [
        [
            "渠道",
            REGISTRY[r["channel"]].label_zh if r["channel"] in REGISTRY else r["channel"],
            f"{r['count']:,}",
            format_fen(r["amount_fen"]),
        ]
        for r in ps["by_channel"]
    ]
    return rows


PUBLIC_SERVICE_HEAD = ["维度", "项目", "笔数", "金额（元）"]
TARGET_HEAD = ["指标", "期限", "目标值", "当前值", "完成进度", "状态"]
TOWN_HEAD = [
    "乡镇（街道）",
    "类型",
    "交易笔数",
    "交易金额（元）",
    "云闪付笔数",
    "活跃用户",
    "覆盖商户/登记主体",
    "覆盖率",
]
INST_HEAD = ["收单机构", "交易笔数", "交易金额（元）"]


def title(doc: dict[str, Any]) -> str:
    y, m = doc["month"].split("-")
    return f"{doc['county']}智付普惠工程月度报告（{y}年{int(m)}月）"


# ---------------------------------------------------------------- xlsx


def to_xlsx(doc: dict[str, Any]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, LineChart, Reference
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "概览"
    ws.append([title(doc)])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([f"统计期间：{doc['start']} 至 {doc['end']}（按业务日期，北京时间）"])
    ws.append([])
    for row in _summary_rows(doc):
        ws.append(row)
    ws.column_dimensions["A"].width = 32
    ws.column_dimensions["B"].width = 28

    def sheet(name: str, head: list[str], rows: list[list[str]]) -> Any:
        s = wb.create_sheet(name)
        s.append(head)
        for c in s[1]:
            c.font = Font(bold=True)
        for r in rows:
            s.append(r)
        for i in range(len(head)):
            s.column_dimensions[chr(65 + i)].width = 18
        s.column_dimensions["A"].width = 30
        return s

    sheet("目标进度", TARGET_HEAD, _target_rows(doc))
    sheet("分乡镇", TOWN_HEAD, _town_rows(doc))
    sheet("分机构", INST_HEAD, _inst_rows(doc))
    ts = wb.create_sheet("趋势")
    ts.append(["月份", "交易笔数", "上年同月笔数", "同比（%）"])
    for m in doc["trend"]["months"]:
        g = m["count_growth_ppm"]
        ts.append([m["month"], m["count"], m["prior_count"], None if g is None else round(g / 10_000, 1)])
    n = len(doc["trend"]["months"])
    bar = BarChart()
    bar.title = "近12个月交易笔数"
    bar.add_data(Reference(ts, min_col=2, max_col=3, min_row=1, max_row=n + 1), titles_from_data=True)
    bar.set_categories(Reference(ts, min_col=1, min_row=2, max_row=n + 1))
    ts.add_chart(bar, "F2")
    sh = wb.create_sheet("占比")
    sh.append(["月份", "银行业标准笔数", "智付总笔数", "占比（%）"])
    for m in doc["share"]["months"]:
        p = m["count_share_ppm"]
        sh.append(
            [m["month"], m["standard_count"], m["smart_count"], None if p is None else round(p / 10_000, 1)]
        )
    line = LineChart()
    line.title = "银行业标准智付占比"
    line.add_data(
        Reference(sh, min_col=4, min_row=1, max_row=len(doc["share"]["months"]) + 1), titles_from_data=True
    )
    sh.add_chart(line, "F2")
    sheet("公共事业缴费", PUBLIC_SERVICE_HEAD, _public_service_rows(doc))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ---------------------------------------------------------------- pdf


def to_pdf(doc: dict[str, Any]) -> bytes:
    from fpdf import FPDF

    from zhifu.assets.fonts import cjk_font_path

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.add_font("cjk", "", str(cjk_font_path()))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("cjk", size=15)
    pdf.cell(0, 10, title(doc), new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.set_font("cjk", size=9)
    pdf.cell(
        0,
        6,
        f"统计期间：{doc['start']} 至 {doc['end']}（按业务日期，北京时间）",
        new_x="LMARGIN",
        new_y="NEXT",
        align="C",
    )
    _heading(pdf, "一、主要指标")
    _table(pdf, ["指标", "本月"], _summary_rows(doc), [110, 70])
    _heading(pdf, "二、目标完成情况")
    _table(pdf, TARGET_HEAD, _target_rows(doc), [62, 20, 26, 26, 22, 24])
    _heading(pdf, "三、近12个月交易笔数（柱）与上年同月（线）")
    _bar_chart(pdf, doc["trend"]["months"])
    pdf.add_page()
    _heading(pdf, "四、分乡镇（街道）")
    _table(pdf, TOWN_HEAD, _town_rows(doc), [30, 12, 20, 30, 20, 18, 28, 16], size=7.5)
    _heading(pdf, "五、各乡镇商户覆盖率")
    _hbar_chart(pdf, [(t["name"], t["coverage_ppm"] or 0) for t in doc["towns"]])
    _heading(pdf, "六、分收单机构")
    _table(pdf, INST_HEAD, _inst_rows(doc), [80, 50, 50])
    _heading(pdf, "七、支付方式")
    _table(
        pdf,
        ["支付方式", "笔数", "金额（元）"],
        [
            [
                REGISTRY[c["channel"]].label_zh if c["channel"] in REGISTRY else c["channel"],
                f"{c['count']:,}",
                format_fen(c["amount_fen"]),
            ]
            for c in doc["channels"]
        ],
        [80, 50, 50],
    )
    _heading(pdf, "八、公共事业缴费（按类别、乡镇、渠道）")
    _table(pdf, PUBLIC_SERVICE_HEAD, _public_service_rows(doc), [30, 70, 40, 40])
    return bytes(pdf.output())


def _heading(pdf: Any, text: str) -> None:
    pdf.ln(3)
    pdf.set_font("cjk", size=11)
    pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")


def _table(pdf: Any, head: list[str], rows: list[list[str]], widths: list[float], size: float = 8.5) -> None:
    pdf.set_font("cjk", size=size)
    pdf.set_fill_color(230, 236, 245)
    for h, w in zip(head, widths, strict=True):
        pdf.cell(w, 6, h, border=1, fill=True, align="C")
    pdf.ln()
    for r in rows:
        if pdf.get_y() > 275:
            pdf.add_page()
        for i, (v, w) in enumerate(zip(r, widths, strict=True)):
            pdf.cell(w, 5.5, str(v), border=1, align="L" if i == 0 else "R")
        pdf.ln()


def _bar_chart(pdf: Any, months: list[dict[str, Any]]) -> None:
    x0, y0, w, h = pdf.l_margin + 10, pdf.get_y() + 2, 170, 55
    top = max([m["count"] for m in months] + [m["prior_count"] for m in months] + [1])
    pdf.set_draw_color(120, 120, 120)
    pdf.line(x0, y0 + h, x0 + w, y0 + h)
    pdf.line(x0, y0, x0, y0 + h)
    step = w / max(len(months), 1)
    pdf.set_font("cjk", size=6)
    pdf.set_fill_color(60, 110, 180)
    prev_pt = None
    for i, m in enumerate(months):
        bh = h * m["count"] / top
        pdf.rect(x0 + i * step + step * 0.2, y0 + h - bh, step * 0.6, bh, style="F")
        pdf.text(x0 + i * step + step * 0.15, y0 + h + 4, m["month"][2:])
        pt = (x0 + i * step + step / 2, y0 + h - h * m["prior_count"] / top)
        if prev_pt is not None:
            pdf.set_draw_color(220, 120, 40)
            pdf.line(*prev_pt, *pt)
        prev_pt = pt
    pdf.set_draw_color(0, 0, 0)
    pdf.text(x0 - 9, y0 + 2, f"{top:,}")
    pdf.set_y(y0 + h + 8)


def _hbar_chart(pdf: Any, items: list[tuple[str, int]]) -> None:
    x0, y = pdf.l_margin + 32, pdf.get_y() + 1
    w = 130
    pdf.set_font("cjk", size=7)
    pdf.set_fill_color(70, 150, 90)
    for name, ppm in items:
        if y > 280:
            pdf.add_page()
            y = pdf.get_y()
        pdf.text(pdf.l_margin, y + 3.2, name)
        pdf.rect(x0, y, w * min(ppm, 1_000_000) / 1_000_000, 4, style="F")
        pdf.text(x0 + w + 2, y + 3.2, _pct(ppm))
        y += 5.5
    pdf.set_y(y + 2)


def render(conn: Connection, month: str, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise InvalidRequest(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}", param="format")
    doc = collect(conn, month)
    return to_xlsx(doc) if fmt == "xlsx" else to_pdf(doc)
