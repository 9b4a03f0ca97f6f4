"""The UnionPay acquirer gateway's vocabulary as this platform uses it: paths, codes, times and the ZM download."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
import zlib
from zoneinfo import ZoneInfo

from ulid import ULID

SHANGHAI = ZoneInfo("Asia/Shanghai")
BACK_TRANS = "/gateway/api/backTransReq.do"  # consume, refund, consume undo
QUERY_TRANS = "/gateway/api/queryTrans.do"  # single transaction query
FILE_TRANS = "/gateway/api/fileTransRequest.do"  # statement (ZM) download

TXN_QUERY, TXN_CONSUME, TXN_REFUND, TXN_UNDO, TXN_FILE = "00", "01", "04", "31", "76"
SUB_SELF_SERVICE, SUB_PAY_CODE, SUB_CONSUMER_SCANNED = "01", "06", "07"  # consume sub-types
BIZ_TYPE = "000000"
CURRENCY_CNY = "156"
ACCESS_ACQUIRER = "1"  # the acquirer sends for its merchants (acqInsCode present)
CHANNEL_MOBILE = "08"
FILE_TYPE_ZM = "00"

OK = "00"
PENDING = frozenset({"03", "04", "05"})  # timeout, status unknown, accepted: query later
NO_SUCH_TXN = "34"
ORIG_BAD_STATE = (
    "35"  # original transaction absent or not in a state that allows this; for a query: closed/undone
)
PAID_ALREADY = "36"  # this platform's fake rail: the undo came after the payer paid (refund instead)
# declines the fake rail answers; a real gateway has more, all of which map to `failed`
DECLINE_CODES = {"insufficient_funds": "51", "limit_exceeded": "61", "card_blocked": "62"}
DECLINE_BY_CODE = {v: k for k, v in DECLINE_CODES.items()}
CARD_TYPES = {"01": "debit", "02": "credit", "03": "credit", "04": "debit", "05": "prepaid"}  # payCardType
CARD_CODES = {"debit": "01", "credit": "02", "prepaid": "05"}


def beijing_stamp(at: dt.datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")


def txn_time_of(our_id: str, fallback: dt.datetime) -> str:
    """txnTime of one of our orders: the time stamp of its id (a ULID), so a later query sends the same value
    without a database; ids that are not ULIDs use `fallback`."""
    _, _, body = our_id.partition("_")
    try:
        at = ULID.from_str(body).datetime
    except ValueError:
        at = fallback
    return beijing_stamp(at)


def zm_file_name(settle_date: dt.date, mer_id: str) -> str:
    """The name of the ZM member in the downloaded archive: INN<yymmdd>88ZM_<merId>."""
    return f"INN{settle_date:%y%m%d}88ZM_{mer_id}"


def pack_file(name: str, data: bytes) -> bytes:
    """What `fileContent` holds before base64: the zip archive of the file, deflated again with zlib (the
    SDK's deCodeFileContent inflates with java.util.zip.Inflater, then unzips)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return zlib.compress(buf.getvalue())


FILE_BYTES_MAX = 512 * 1024 * 1024


def unpack_file(content: bytes, name: str) -> bytes:
    """Inflate and unzip; the archive must hold the member `name` (not another merchant's or day's file)."""
    d = zlib.decompressobj()
    raw = d.decompress(content, FILE_BYTES_MAX)
    if d.unconsumed_tail or not d.eof:
        raise ValueError("fileContent is not one complete zlib stream within the size limit")
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        names = z.namelist()
        if name not in names:
            raise ValueError(f"the archive holds {', '.join(names) or 'nothing'}, not {name}")
        info = z.getinfo(name)
        if info.file_size > FILE_BYTES_MAX:
            raise ValueError("file too large")
        return z.read(name)


_RESERVED = re.compile(r"rail=([a-z_]+);order=([A-Za-z0-9_]+)")


def reserved(rail: str, payment_id: str) -> str:
    """reqReserved: echoed by the gateway in answers and notifications; carries our rail and payment id."""
    return f"rail={rail};order={payment_id}"


def parse_reserved(text: str | None) -> tuple[str | None, str | None]:
    m = _RESERVED.fullmatch(text or "")
    return (m.group(1), m.group(2)) if m else (None, None)
