"""EMV merchant-presented QR codes: decode, validate and encode payloads; render printable stickers."""

from zhifu.qr.crc import crc16_ccitt_false, crc_hex
from zhifu.qr.decode import decode
from zhifu.qr.encode import encode, encode_qr
from zhifu.qr.errors import QRDecodeError, QREncodeError
from zhifu.qr.model import AdditionalData, LanguageTemplate, MerchantAccount, MerchantPresentedQR
from zhifu.qr.rules import minor_units
from zhifu.qr.tlv import DataObject

__all__ = [
    "AdditionalData",
    "DataObject",
    "LanguageTemplate",
    "MerchantAccount",
    "MerchantPresentedQR",
    "QRDecodeError",
    "QREncodeError",
    "crc16_ccitt_false",
    "crc_hex",
    "decode",
    "encode",
    "encode_qr",
    "minor_units",
]
