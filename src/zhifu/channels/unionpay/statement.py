"""UnionPay merchant statement (ZM file): GBK, 40 fixed-width fields one space apart, CRLF lines, as in UnionPay's
file interface specification (交易代码 … 交易介质, then the reserved area 保留使用).

Our fields map onto ZM fields as follows (everything else travels in `extra` under the field name):
trade_code "S22" purchase / "S30" refund / "S31" consume undo (read as a refund); txn_type "01" purchase /
"04" refund / "31" undo (must agree with the trade code); txn_subtype is the transaction sub-type (交易子类), not a
status: for a purchase 01 self-service (the terminal rails), 02 order, 03 instalment, 06 pay-code purchase
(the merchant scans the consumer's code), 07 consumer-scanned QR; 00 for a refund or an undo. A purchase's
sub-type travels in `extra["txn_subtype"]` unless it is 01, the default. trans_time MMDDhhmmss Beijing time,
the year taken from the business date; query_id = channel_ref; order_no = merchant_order_no; amount =
amount_fen; merchant_fee = fee_fen (signed: a refund may return the fee); settle_amount = ±amount − fee
(checked); card_type 01 debit / 02 credit / 03 quasi-credit / 04 prepaid / blank; orig_query_id =
original_ref; merchant_code. (The 32-byte field named `reserved` is the merchant-defined field 商户自定义域.)

A ZM file lists cleared transactions only, so every line is `succeeded`. After the last field a record may
carry the reserved area (保留使用, 131 bytes in the published layout, blank in files from UnionPay): it is
accepted whatever its length (up to RESERVED_BYTES_MAX) as long as a space separates it from the last field.
This platform's writer uses it for one thing only: a line whose status is not `succeeded` (a discrepancy the
fake rail plants, which a real file would show by omission) carries `zhifu_status=<status>` there.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import NamedTuple

import polars as pl

from zhifu.channels.statement import (
    LINES_MAX,
    SHANGHAI,
    STATUSES,
    StatementFormatError,
    StatementLine,
    check_local_date,
)
from zhifu.channels.statement_frame import STATEMENT_SCHEMA, empty_statement_frame, lines_to_frame


class ZmField(NamedTuple):
    name: str
    width: int  # in GBK bytes
    kind: str  # "t" text (left, space-padded), "n" numeric (right, zero-padded), "s" signed numeric

    @property
    def numeric(self) -> bool:
        return self.kind != "t"


LAYOUT: tuple[ZmField, ...] = (
    ZmField("trade_code", 3, "t"),
    ZmField("agent_inst", 11, "t"),
    ZmField("sender_inst", 11, "t"),
    ZmField("trace_no", 6, "n"),
    ZmField("trans_time", 10, "n"),
    ZmField("account_no", 19, "t"),
    ZmField("amount", 12, "n"),
    ZmField("mcc", 4, "t"),
    ZmField("terminal_type", 2, "t"),
    ZmField("query_id", 21, "t"),
    ZmField("pay_method_old", 2, "t"),
    ZmField("order_no", 32, "t"),
    ZmField("card_type", 2, "t"),
    ZmField("orig_trace_no", 6, "n"),
    ZmField("orig_trans_time", 10, "n"),
    ZmField("merchant_fee", 13, "s"),
    ZmField("settle_amount", 13, "s"),
    ZmField("pay_method", 4, "t"),
    ZmField("group_merchant", 15, "t"),
    ZmField("txn_type", 2, "t"),
    ZmField("txn_subtype", 2, "t"),
    ZmField("biz_type", 6, "t"),
    ZmField("account_type", 2, "t"),
    ZmField("bill_type", 4, "t"),
    ZmField("bill_no", 32, "t"),
    ZmField("interaction", 1, "t"),
    ZmField("orig_query_id", 21, "t"),
    ZmField("merchant_code", 15, "t"),
    ZmField("split_mode", 1, "t"),
    ZmField("sub_merchant_code", 15, "t"),
    ZmField("sub_merchant_name", 32, "t"),
    ZmField("sub_split_amount", 13, "n"),
    ZmField("clearing_net", 13, "s"),
    ZmField("terminal_id", 8, "t"),
    ZmField("reserved", 32, "t"),
    ZmField("discount_amount", 13, "n"),
    ZmField("invoice_amount", 13, "n"),
    ZmField("instalment_fee", 12, "n"),
    ZmField("instalment_count", 2, "n"),
    ZmField("medium", 1, "t"),
)
_BY_NAME = {f.name: f for f in LAYOUT}
OFFSETS: dict[str, int] = {}
_pos = 0
for _f in LAYOUT:
    OFFSETS[_f.name] = _pos
    _pos += _f.width + 1
LINE_BYTES = _pos - 1  # without CRLF, without the reserved area
RECORD_BYTES = LINE_BYTES + 2
RESERVED_BYTES = 131  # the reserved area 保留使用 after the last field, in the published layout
RESERVED_BYTES_MAX = 512

TRADE_CODES = {"payment": "S22", "refund": "S30"}
TXN_TYPE_CODES = {"payment": "01", "refund": "04"}
_TXN_BY_TRADE = {"S22": "payment", "S30": "refund", "S31": "refund"}
_TXN_TYPE_BY_TRADE = {"S22": "01", "S30": "04", "S31": "31"}
# 交易子类 by trade code: consume 01 self-service, 02 order, 03 instalment, 06 pay code, 07 consumer-scanned QR
SUBTYPES = {
    "S22": frozenset({"01", "02", "03", "06", "07"}),
    "S30": frozenset({"00"}),
    "S31": frozenset({"00"}),
}
DEFAULT_SUBTYPE = {"payment": "01", "refund": "00"}
SUBTYPE_NAMES = {
    "01": "self-service 自助消费",
    "02": "order 订购",
    "03": "instalment 分期付款",
    "06": "pay-code purchase 付款码消费",
    "07": "consumer-scanned QR 主扫消费",
}
_STATUS_RE = re.compile(r"zhifu_status=([a-z]+)")
CARD_TYPE_CODES = {"debit": "01", "credit": "02", "quasi_credit": "03", "prepaid": "04"}
_CARD_BY_CODE = {v: k for k, v in CARD_TYPE_CODES.items()}
_FRAME_FIELDS = (  # the fields a statement row maps onto ours, in the frame's order
    "trade_code",
    "trans_time",
    "amount",
    "query_id",
    "order_no",
    "card_type",
    "merchant_fee",
    "settle_amount",
    "txn_type",
    "txn_subtype",
    "orig_query_id",
    "merchant_code",
)
_MAPPED = frozenset(_FRAME_FIELDS)

EXTRA_FIELDS: tuple[str, ...] = tuple(f.name for f in LAYOUT if f.name not in _MAPPED)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_DIGITS_RE = re.compile(rb"[0-9]+")
_SIGNED_RE = re.compile(rb"-?[0-9]+")
CHUNK_LINES = 32_768  # ~16 MB of file per vectorised step keeps peak memory flat


def _default_extra(field: ZmField, line_no: int) -> str:
    if field.name == "trace_no":
        return f"{line_no % 1_000_000:06d}"
    return "0" * field.width if field.numeric else ""


# ---------------------------------------------------------------- writer


def _pad(field: ZmField, value: str, line_no: int) -> bytes:
    try:
        raw = value.encode("gbk")
    except UnicodeEncodeError as exc:
        raise StatementFormatError(
            f"{value!r} cannot be written in GBK", line_no=line_no, field=field.name
        ) from exc
    if field.kind == "t":
        if _CONTROL_RE.search(value):
            raise StatementFormatError(
                "control characters are not allowed", line_no=line_no, field=field.name
            )
        padded = raw.ljust(field.width, b" ")
    elif field.kind == "n" and _DIGITS_RE.fullmatch(raw):
        padded = raw.rjust(field.width, b"0")
    elif field.kind == "s" and _SIGNED_RE.fullmatch(raw):
        padded = (
            b"-" + raw[1:].rjust(field.width - 1, b"0")
            if raw.startswith(b"-")
            else raw.rjust(field.width, b"0")
        )
    else:
        raise StatementFormatError(f"{value!r} is not a number", line_no=line_no, field=field.name)
    if len(padded) != field.width:
        raise StatementFormatError(
            f"{value!r} is {len(raw)} GBK bytes, the field holds {field.width}",
            line_no=line_no,
            field=field.name,
        )
    return padded


def encode_line(line: StatementLine, business_date: dt.date) -> bytes:
    """One ZM record with its CRLF; raises StatementFormatError when a value does not fit."""
    n = line.line_no
    local = line.txn_time.astimezone(SHANGHAI)
    check_local_date(local, business_date, line_no=n, field="trans_time")
    if line.card_type is not None and line.card_type not in CARD_TYPE_CODES:
        raise StatementFormatError(f"unknown card type {line.card_type!r}", line_no=n, field="card_type")
    sign = 1 if line.txn_type == "payment" else -1
    subtype = DEFAULT_SUBTYPE[line.txn_type]
    if line.txn_type == "payment":
        subtype = line.extra.get("txn_subtype") or line.extra.get("trade_type") or subtype
        if subtype not in SUBTYPES["S22"]:
            raise StatementFormatError(
                f"unknown purchase sub-type {subtype!r}", line_no=n, field="txn_subtype"
            )
    values = {
        "trade_code": TRADE_CODES[line.txn_type],
        "trans_time": local.strftime("%m%d%H%M%S"),
        "amount": str(line.amount_fen),
        "query_id": line.channel_ref,
        "order_no": line.merchant_order_no,
        "card_type": CARD_TYPE_CODES[line.card_type] if line.card_type else "",
        "merchant_fee": str(line.fee_fen),
        "settle_amount": str(sign * line.amount_fen - line.fee_fen),
        "txn_type": TXN_TYPE_CODES[line.txn_type],
        "txn_subtype": subtype,
        "orig_query_id": line.original_ref or "",
        "merchant_code": line.merchant_code,
    }
    parts = []
    for field in LAYOUT:
        value = values.get(field.name)
        if value is None:
            value = line.extra.get(field.name) or _default_extra(field, n)
        parts.append(_pad(field, value, n))
    if line.status != "succeeded":  # a real ZM file never lists it; see the module's note
        parts.append(f"zhifu_status={line.status}".ljust(RESERVED_BYTES).encode("ascii"))
    return b" ".join(parts) + b"\r\n"


def write_zm(lines: Sequence[StatementLine], business_date: dt.date) -> bytes:
    """The whole file; extra keys that are not ZM fields are not written."""
    return b"".join(encode_line(line, business_date) for line in lines)


# ---------------------------------------------------------------- reference parser, line by line


def _field_at(pos: int) -> ZmField:
    for field in LAYOUT:
        if pos < OFFSETS[field.name] + field.width + 1:
            return field
    return LAYOUT[-1]


def _resolve_date(mmdd: str, business_date: dt.date, line_no: int, field: str) -> dt.date:
    for day in (business_date, business_date - dt.timedelta(days=1)):
        if day.strftime("%m%d") == mmdd:
            return day
    raise StatementFormatError(
        f"date {mmdd[:2]}-{mmdd[2:]} does not belong to the business date {business_date.isoformat()}",
        line_no=line_no,
        field=field,
    )


def decode_line(raw: bytes, line_no: int, business_date: dt.date, channel: str) -> StatementLine:
    """Parse one record without its CRLF, checking every field."""
    if len(raw) < LINE_BYTES:
        cut = _field_at(len(raw))
        raise StatementFormatError(
            f"line is {len(raw)} bytes, expected {LINE_BYTES}: too short", line_no=line_no, field=cut.name
        )
    status = "succeeded"
    if len(raw) > LINE_BYTES:
        if raw[LINE_BYTES : LINE_BYTES + 1] != b" " or len(raw) > LINE_BYTES + 1 + RESERVED_BYTES_MAX:
            raise StatementFormatError(
                f"line is {len(raw)} bytes, expected {LINE_BYTES} (and a reserved area after a space): "
                f"too long after the last field",
                line_no=line_no,
                field=LAYOUT[-1].name,
            )
        status = _reserved_status(raw[LINE_BYTES + 1 :], line_no)
        raw = raw[:LINE_BYTES]
    texts: dict[str, str] = {}
    for field in LAYOUT:
        start = OFFSETS[field.name]
        chunk = raw[start : start + field.width]
        end = start + field.width
        if end < LINE_BYTES and raw[end : end + 1] != b" ":
            raise StatementFormatError(
                "field is not followed by a single space; a value is too long or a field is missing",
                line_no=line_no,
                field=field.name,
            )
        try:
            text = chunk.decode("gbk")
        except UnicodeDecodeError as exc:
            raise StatementFormatError(
                f"bytes {chunk[exc.start : exc.end]!r} are not valid GBK", line_no=line_no, field=field.name
            ) from exc
        if field.kind == "t":
            if _CONTROL_RE.search(text):
                raise StatementFormatError("control character in text", line_no=line_no, field=field.name)
            texts[field.name] = text.rstrip(" ")
        else:
            pattern = _DIGITS_RE if field.kind == "n" else _SIGNED_RE
            if not pattern.fullmatch(chunk):
                raise StatementFormatError(
                    f"{text!r} is not a zero-padded number", line_no=line_no, field=field.name
                )
            texts[field.name] = text
    return _build_line(texts, line_no, business_date, channel, status)


def _reserved_status(area: bytes, line_no: int) -> str:
    """The status a reserved area names (`succeeded` when blank, as in every file from UnionPay)."""
    try:
        text = area.decode("gbk")
    except UnicodeDecodeError as exc:
        raise StatementFormatError(
            f"bytes {area[exc.start : exc.end]!r} are not valid GBK", line_no=line_no, field="reserved_area"
        ) from exc
    if _CONTROL_RE.search(text):
        raise StatementFormatError(
            "control character in the reserved area", line_no=line_no, field="reserved_area"
        )
    m = _STATUS_RE.search(text)
    if m is None:
        return "succeeded"
    if m.group(1) not in STATUSES:
        raise StatementFormatError(f"unknown status {m.group(1)!r}", line_no=line_no, field="reserved_area")
    return m.group(1)


def _build_line(
    texts: dict[str, str], line_no: int, business_date: dt.date, channel: str, status: str = "succeeded"
) -> StatementLine:
    txn_type = _TXN_BY_TRADE.get(texts["trade_code"])
    if txn_type is None:
        raise StatementFormatError(
            f"unknown trade code {texts['trade_code']!r}", line_no=line_no, field="trade_code"
        )
    if texts["txn_type"] != _TXN_TYPE_BY_TRADE[texts["trade_code"]]:
        raise StatementFormatError(
            f"txn type {texts['txn_type']!r} disagrees with trade code {texts['trade_code']}",
            line_no=line_no,
            field="txn_type",
        )
    if texts["txn_subtype"] not in SUBTYPES[texts["trade_code"]]:
        raise StatementFormatError(
            f"unknown sub-type {texts['txn_subtype']!r} for trade code {texts['trade_code']}",
            line_no=line_no,
            field="txn_subtype",
        )
    card_type = None
    if texts["card_type"]:
        card_type = _CARD_BY_CODE.get(texts["card_type"])
        if card_type is None:
            raise StatementFormatError(
                f"unknown card type {texts['card_type']!r}", line_no=line_no, field="card_type"
            )
    for name in ("query_id", "order_no", "merchant_code"):
        if not texts[name]:
            raise StatementFormatError("is blank", line_no=line_no, field=name)
    amount_fen = int(texts["amount"])
    if amount_fen <= 0:
        raise StatementFormatError("amount must be positive", line_no=line_no, field="amount")
    fee_fen = int(texts["merchant_fee"])
    sign = 1 if txn_type == "payment" else -1
    if int(texts["settle_amount"]) != sign * amount_fen - fee_fen:
        raise StatementFormatError(
            f"settlement {int(texts['settle_amount'])} is not amount {sign * amount_fen} less fee {fee_fen}",
            line_no=line_no,
            field="settle_amount",
        )
    stamp = texts["trans_time"]
    day = _resolve_date(stamp[:4], business_date, line_no, "trans_time")
    try:
        local = dt.datetime.strptime(f"{day.year}{stamp}", "%Y%m%d%H%M%S").replace(tzinfo=SHANGHAI)
    except ValueError as exc:
        raise StatementFormatError(
            f"{stamp!r} is not a valid MMDDhhmmss time", line_no=line_no, field="trans_time"
        ) from exc
    extra = {}
    for name in EXTRA_FIELDS:
        value = texts[name]
        if value and value != _default_extra(_BY_NAME[name], line_no):
            extra[name] = value
    if txn_type == "payment" and texts["txn_subtype"] != DEFAULT_SUBTYPE["payment"]:
        extra["txn_subtype"] = texts["txn_subtype"]
    return StatementLine(
        channel=channel,
        line_no=line_no,
        channel_ref=texts["query_id"],
        merchant_order_no=texts["order_no"],
        merchant_code=texts["merchant_code"],
        txn_time=local,
        txn_type=txn_type,
        amount_fen=amount_fen,
        fee_fen=fee_fen,
        status=status,
        original_ref=texts["orig_query_id"] or None,
        card_type=card_type,
        extra=extra,
    )


def parse_zm(
    data: bytes, business_date: dt.date, channel: str, *, first_line: int = 1
) -> list[StatementLine]:
    """Every record, in order; the first bad record refuses the whole file."""
    records = data.split(b"\n")
    if records[-1] != b"":
        raise StatementFormatError(
            "file does not end with CRLF", line_no=first_line + len(records) - 1, field="line_end"
        )
    records.pop()
    if len(records) > LINES_MAX:
        raise StatementFormatError(f"more than {LINES_MAX} lines")
    out = []
    for i, record in enumerate(records):
        line_no = first_line + i
        if not record.endswith(b"\r"):
            raise StatementFormatError(
                "line ends with LF only, expected CRLF", line_no=line_no, field="line_end"
            )
        out.append(decode_line(record[:-1], line_no, business_date, channel))
    return out


# ---------------------------------------------------------------- vectorised parser

# Bytes made safe for a UTF-8 reader without moving any offset: high (GBK) bytes become 0x7f,
# control bytes other than CR/LF become 0x01, which no field accepts.
_ASCII_SAFE = bytes(
    (b if 0x20 <= b < 0x7F or b in (0x0A, 0x0D) else 0x7F if b >= 0x80 else 0x01) for b in range(256)
)


def _line_regex() -> str:
    parts = []
    for field in LAYOUT:
        if field.kind == "n":
            parts.append(f"[0-9]{{{field.width}}}")
        elif field.kind == "s":
            parts.append(f"(?:-[0-9]{{{field.width - 1}}}|[0-9]{{{field.width}}})")
        else:
            parts.append(f"[ -\\x7f]{{{field.width}}}")
    return "^" + " ".join(parts) + "$"


_LINE_RE = _line_regex()


def _slice(name: str) -> pl.Expr:
    field = _BY_NAME[name]
    return pl.col("l").str.slice(OFFSETS[name], field.width)


def _chunk_frame(
    chunk: bytes, first_line: int, business_date: dt.date, channel: str
) -> tuple[pl.DataFrame, int | None]:
    """Parse one aligned chunk; returns the frame and the first bad line number, if any."""
    n = len(chunk) // RECORD_BYTES
    lines = pl.read_csv(
        chunk.translate(_ASCII_SAFE),
        has_header=False,
        separator="\x1f",
        quote_char=None,
        schema={"l": pl.String},
    )
    if lines.height != n:
        return empty_statement_frame(), first_line
    prev = business_date - dt.timedelta(days=1)
    year = (
        pl.when(_slice("trans_time").str.slice(0, 4) == business_date.strftime("%m%d"))
        .then(pl.lit(str(business_date.year)))
        .when(_slice("trans_time").str.slice(0, 4) == prev.strftime("%m%d"))
        .then(pl.lit(str(prev.year)))
    )
    trade = _slice("trade_code")
    txn_type = (
        pl.when(trade == "S22")
        .then(pl.lit("payment"))
        .when(trade.is_in(["S30", "S31"]))
        .then(pl.lit("refund"))
    )
    subtype = _slice("txn_subtype")
    subtype_ok = pl.lit(False)
    for code, allowed in SUBTYPES.items():
        subtype_ok = subtype_ok | ((trade == code) & subtype.is_in(sorted(allowed)))
    card = _slice("card_type").str.strip_chars_end(" ")
    frame = lines.select(
        pl.col("l").str.contains(_LINE_RE).alias("_ok_shape"),
        pl.col("l").str.contains("\x7f", literal=True).alias("_high"),
        pl.lit(channel).alias("channel"),
        (pl.int_range(0, pl.len(), dtype=pl.Int64) + first_line).alias("line_no"),
        _slice("query_id").str.strip_chars_end(" ").alias("channel_ref"),
        _slice("order_no").str.strip_chars_end(" ").alias("merchant_order_no"),
        _slice("merchant_code").str.strip_chars_end(" ").alias("merchant_code"),
        pl.concat_str(year, _slice("trans_time"))
        .str.to_datetime("%Y%m%d%H%M%S", strict=False, time_unit="us")
        .dt.replace_time_zone("Asia/Shanghai")
        .dt.convert_time_zone("UTC")
        .alias("txn_time"),
        txn_type.alias("txn_type"),
        (
            _slice("txn_type")
            == trade.replace_strict(_TXN_TYPE_BY_TRADE, default=None, return_dtype=pl.String)
        ).alias("_ok_tt"),
        subtype_ok.alias("_ok_subtype"),
        _slice("amount").str.to_integer(strict=False).alias("amount_fen"),
        _slice("merchant_fee").str.to_integer(strict=False).alias("fee_fen"),
        _slice("settle_amount").str.to_integer(strict=False).alias("_settle"),
        pl.lit("succeeded").alias("status"),  # an aligned file has no reserved area: cleared lines only
        _slice("orig_query_id").str.strip_chars_end(" ").alias("original_ref"),
        pl.when(card == "")
        .then(None)
        .otherwise(card.replace_strict(_CARD_BY_CODE, default="?", return_dtype=pl.String))
        .alias("card_type"),
        *(
            _slice(name).str.contains("\x7f", literal=True).alias(f"_high_{name}")
            for name in ("query_id", "order_no", "merchant_code", "orig_query_id", "card_type")
        ),
    )
    sign = pl.when(pl.col("txn_type") == "payment").then(1).otherwise(-1)
    ok = (
        pl.col("_ok_shape")
        & pl.col("_ok_tt").fill_null(False)
        & pl.col("txn_type").is_not_null()
        & pl.col("_ok_subtype")
        & pl.col("txn_time").is_not_null()
        & (pl.col("amount_fen") > 0).fill_null(False)
        & (pl.col("_settle") == sign * pl.col("amount_fen") - pl.col("fee_fen")).fill_null(False)
        & (pl.col("card_type").fill_null("") != "?")
        & (pl.col("channel_ref") != "")
        & (pl.col("merchant_order_no") != "")
        & (pl.col("merchant_code") != "")
    )
    frame = frame.with_columns(ok.alias("_ok"))
    bad_rows = frame.filter(~pl.col("_ok")).select("line_no").head(1)
    bad = int(bad_rows.item()) if bad_rows.height else None
    if frame.select(pl.col("_high").any()).item():
        try:
            chunk.decode("gbk")
        except UnicodeDecodeError as exc:
            gbk_bad = first_line + exc.start // RECORD_BYTES
            bad = gbk_bad if bad is None else min(bad, gbk_bad)
        if bad is None and frame.select(pl.any_horizontal(pl.col("^_high_.*$")).any()).item():
            frame = _redecode_text(frame, chunk)
    if bad is not None:
        return frame, bad
    return frame.with_columns(pl.col("original_ref").replace("", None)).select(list(STATEMENT_SCHEMA)), None


def _redecode_text(frame: pl.DataFrame, chunk: bytes) -> pl.DataFrame:
    """Mapped text fields holding GBK characters are read again from the original bytes."""
    targets = {
        "query_id": "channel_ref",
        "order_no": "merchant_order_no",
        "merchant_code": "merchant_code",
        "orig_query_id": "original_ref",
        "card_type": "card_type",
    }
    updates = {}
    for zm_name, column in targets.items():
        rows = frame.with_row_index("_i").filter(pl.col(f"_high_{zm_name}"))["_i"].to_list()
        if not rows:
            continue
        values = frame[column].to_list()
        start, width = OFFSETS[zm_name], _BY_NAME[zm_name].width
        for i in rows:
            at = i * RECORD_BYTES + start
            values[i] = chunk[at : at + width].decode("gbk").rstrip(" ")
        updates[column] = pl.Series(column, values, dtype=pl.String)
    if "card_type" in updates:  # a GBK card type is never a known code
        bad = frame.filter(pl.col("_high_card_type"))["line_no"][0]
        raise StatementFormatError("unknown card type", line_no=int(bad), field="card_type")
    return frame.with_columns(**updates)


def parse_zm_frame(data: bytes, business_date: dt.date, channel: str) -> pl.DataFrame:
    """The same result as `parse_zm` as a STATEMENT_SCHEMA frame, parsed column-wise in chunks."""
    if not data:
        return empty_statement_frame()
    n = len(data) // RECORD_BYTES
    aligned = (
        len(data) % RECORD_BYTES == 0
        and data[LINE_BYTES::RECORD_BYTES] == b"\r" * n
        and data[LINE_BYTES + 1 :: RECORD_BYTES] == b"\n" * n
    )
    if not aligned or n > LINES_MAX:
        # records of other lengths: a reserved area after the last field, or a bad file (parse_zm names the line)
        return lines_to_frame(parse_zm(data, business_date, channel)).cast(STATEMENT_SCHEMA)
    frames = []
    step = CHUNK_LINES * RECORD_BYTES
    for start in range(0, len(data), step):
        first_line = start // RECORD_BYTES + 1
        frame, bad = _chunk_frame(data[start : start + step], first_line, business_date, channel)
        if bad is not None:
            at = (bad - 1) * RECORD_BYTES
            parse_zm(data[at : at + RECORD_BYTES], business_date, channel, first_line=bad)
            raise StatementFormatError("malformed record", line_no=bad)
        frames.append(frame)
    return pl.concat(frames).cast(STATEMENT_SCHEMA)
