"""`zhifu qr …` commands: decode and encode EMV QR payloads, write sticker files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import typer

from zhifu.core.errors import InvalidRequest
from zhifu.qr.decode import decode as decode_payload
from zhifu.qr.encode import encode as encode_payload
from zhifu.qr.errors import FieldInvalid, QRDecodeError, QREncodeError
from zhifu.qr.model import AdditionalData, LanguageTemplate, MerchantAccount, MerchantPresentedQR
from zhifu.qr.rules import decimal_to_minor
from zhifu.qr.sticker import DEFAULT_METHODS, StickerInfo, render_pdf, render_png, render_svg
from zhifu.qr.tlv import DataObject

app = typer.Typer(no_args_is_help=True, help="EMV merchant-presented QR codes and printable stickers.")

STICKER_FORMATS = ("pdf", "png", "svg")
_TEMPLATE_TAGS = {"62", "64", *(str(n) for n in range(26, 52)), *(str(n) for n in range(80, 100))}


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _object_json(obj: DataObject, *, template: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"tag": obj.tag, "length": len(obj.value), "value": obj.value}
    if template:
        nested = obj.tag == "62"
        out["children"] = [
            _object_json(child, template=nested and int(child.tag) >= 50) for child in obj.children()
        ]
    return out


def qr_json(qr: MerchantPresentedQR) -> dict[str, Any]:
    """A decoded payload as JSON-ready data: the tags in order (templates opened) and the typed fields."""
    return {
        "tags": [_object_json(obj, template=obj.tag in _TEMPLATE_TAGS) for obj in qr.tags],
        "fields": {
            "initiation": {"11": "static", "12": "dynamic"}.get(qr.initiation or "", None),
            "merchant_accounts": [
                {"tag": acc.tag, "gui": acc.gui, "value": acc.value} for acc in qr.merchant_accounts
            ],
            "mcc": qr.mcc,
            "currency": qr.currency,
            "amount": qr.amount_text,
            "amount_minor": qr.amount_minor,
            "amount_fen": qr.amount_fen,
            "country": qr.country,
            "merchant_name": qr.merchant_name,
            "merchant_city": qr.merchant_city,
            "postal_code": qr.postal_code,
            "language": None if qr.language is None else qr.language.language,
            "alternate_name": None if qr.language is None else qr.language.name,
            "alternate_city": None if qr.language is None else qr.language.city,
            "crc": qr.crc,
        },
    }


@app.command("decode")
def decode_command(
    payload: str = typer.Argument(..., help="The payload text, e.g. 000201…6304A13A."),
) -> None:
    """Validate a payload and print its tags as JSON; exits 1 naming the bad tag and its offset."""
    try:
        qr = decode_payload(payload)
    except QRDecodeError as exc:
        _fail(f"{exc.message} (tag={exc.tag} offset={exc.offset})")
    typer.echo(json.dumps(qr_json(qr), ensure_ascii=False, indent=2))


def _pairs(items: list[str], option: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidRequest(f"{option} expects KEY=VALUE, got {item!r}", param=option)
        pairs.append((key, value))
    return pairs


def _accounts(accounts: list[str], templates: list[str], fields: list[str]) -> list[MerchantAccount]:
    result = [MerchantAccount(tag, value) for tag, value in _pairs(accounts, "--account")]
    extra: dict[str, list[DataObject]] = {}
    for key, value in _pairs(fields, "--field"):
        tag, _, sub = key.partition(".")
        extra.setdefault(tag, []).append(DataObject(sub, value))
    for tag, gui in _pairs(templates, "--template"):
        result.append(MerchantAccount.template(tag, gui, extra.pop(tag, [])))
    if extra:
        raise InvalidRequest(f"--field for tags {sorted(extra)} without a --template", param="--field")
    return result


@app.command("encode")
def encode_command(
    mcc: str = typer.Option(..., help="Merchant category code, 4 digits."),
    name: str = typer.Option(..., help="Merchant name (tag 59, ≤ 25 characters)."),
    city: str = typer.Option(..., help="Merchant city (tag 60, ≤ 15 characters)."),
    account: list[str] = typer.Option([], help="Primitive account TAG=VALUE, e.g. 15=… for UnionPay."),
    template: list[str] = typer.Option([], help="Account template TAG=GUI (tags 26–51)."),
    field: list[str] = typer.Option([], help="Template sub-tag TAG.SUB=VALUE, e.g. 26.01=…"),
    dynamic: bool = typer.Option(False, "--dynamic/--static", help="Point of initiation 12 or 11."),
    currency: str = typer.Option("156", help="ISO 4217 numeric currency."),
    country: str = typer.Option("CN", help="ISO 3166 alpha-2 country."),
    amount: str | None = typer.Option(
        None, help="Amount as a decimal, e.g. 23.72; leave out to let the payer type it."
    ),
    postal_code: str | None = typer.Option(None, help="Postal code (tag 61)."),
    bill_number: str | None = typer.Option(None, help="62.01 bill number."),
    store_label: str | None = typer.Option(None, help="62.03 store label."),
    reference_label: str | None = typer.Option(None, help="62.05 reference label."),
    terminal_label: str | None = typer.Option(None, help="62.07 terminal label."),
    purpose: str | None = typer.Option(None, help="62.08 purpose of transaction."),
    language: str | None = typer.Option(None, help="64.00 language of the alternate name, e.g. ZH."),
    alt_name: str | None = typer.Option(None, help="64.01 merchant name in that language."),
    alt_city: str | None = typer.Option(None, help="64.02 merchant city in that language."),
) -> None:
    """Build a payload from the given fields and print it (CRC included)."""
    try:
        amount_minor = None if amount is None else decimal_to_minor(amount, currency, "amount")
        extra = AdditionalData.build(
            bill_number=bill_number,
            store_label=store_label,
            reference_label=reference_label,
            terminal_label=terminal_label,
            purpose=purpose,
        )
        alternate = None
        if language is not None or alt_name is not None:
            alternate = LanguageTemplate.build(language=language or "ZH", name=alt_name or "", city=alt_city)
        payload = encode_payload(
            merchant_accounts=_accounts(account, template, field),
            mcc=mcc,
            name=name,
            city=city,
            dynamic=dynamic,
            currency=currency,
            country=country,
            amount_fen=amount_minor,
            postal_code=postal_code,
            additional_data=extra if extra.fields else None,
            language=alternate,
        )
    except FieldInvalid as exc:
        _fail(f"tag 54: {exc.reason}")
    except (QREncodeError, InvalidRequest) as exc:
        _fail(exc.message)
    typer.echo(payload)


def write_sticker(info: StickerInfo, fmt: str, out: Path) -> Path:
    """Render `info` as pdf, png or svg into `out` and return the path written."""
    fmt = fmt.lower()
    if fmt == "pdf":
        out.write_bytes(render_pdf(info))
    elif fmt == "png":
        out.write_bytes(render_png(info))
    elif fmt == "svg":
        out.write_text(render_svg(info), encoding="utf-8")
    else:
        raise InvalidRequest(
            f"sticker format must be one of {', '.join(STICKER_FORMATS)}, not {fmt!r}", param="format"
        )
    return out


@app.command("sticker-file")
def sticker_file_command(
    short_name: str = typer.Option(..., help="Shop name printed on the sticker (≤ 25 characters)."),
    merchant_id: str = typer.Option(..., help="Merchant id printed under the code."),
    url: str = typer.Option(..., help="What the code carries: the cashier URL or an EMV payload."),
    fmt: str = typer.Option("pdf", "--format", help="pdf, png or svg."),
    out: Path = typer.Option(..., help="File to write."),
    method: list[str] = typer.Option([], help="Accepted method, repeatable; default: the usual five."),
) -> None:
    """Write one sticker from explicit fields (the merchant lookup lives in `zhifu qr sticker`)."""
    try:
        methods = list(method) if method else list(DEFAULT_METHODS)
        info = StickerInfo(short_name=short_name, merchant_id=merchant_id, code_url=url, methods=methods)
        written = write_sticker(info, fmt, out)
    except InvalidRequest as exc:
        _fail(exc.message)
    typer.echo(str(written))


def _merchant_sticker(conn: Any, merchant_id: str, payload: str) -> StickerInfo:
    """The sticker of a merchant: its short name, id and active static code (the URL, or the EMV payload)."""
    from zhifu.codes import static_code_for
    from zhifu.merchants import get_merchant

    merchant = get_merchant(conn, merchant_id)
    code = static_code_for(conn, merchant_id)
    if code is None:
        raise InvalidRequest(
            f"merchant {merchant_id} has no active static code; issue one with "
            f"`zhifu code issue {merchant_id}`",
            param="merchant",
        )
    carried = code["url"] if payload == "url" else code["emv_payload"]
    return StickerInfo(short_name=merchant["short_name"], merchant_id=merchant_id, code_url=carried)


def _payload_kind(payload: str) -> str:
    if payload not in ("url", "emv"):
        raise InvalidRequest(
            "--payload must be url (the cashier link) or emv (the standard QR payload)", param="payload"
        )
    return payload


@app.command("sticker")
def sticker_command(
    merchant_id: str = typer.Argument(..., help="The merchant whose static code is printed."),
    fmt: str = typer.Option("pdf", "--format", help="pdf, png or svg."),
    out: Path = typer.Option(..., help="File to write."),
    payload: str = typer.Option("url", help="url: the cashier link every app opens; emv: the EMV payload."),
) -> None:
    """Write a merchant's sticker from its record and its active static code."""
    from zhifu.cli import database
    from zhifu.core.errors import ZhifuError

    try:
        kind = _payload_kind(payload)
        with database().tx() as conn:
            info = _merchant_sticker(conn, merchant_id, kind)
        written = write_sticker(info, fmt, out)
    except ZhifuError as exc:
        _fail(exc.message)
    typer.echo(str(written))


@app.command("sheet")
def sheet_command(
    merchant_ids: list[str] = typer.Argument(None, help="Merchants to print; none: every active one."),
    town: str | None = typer.Option(None, help="Only merchants of this town code (with no ids given)."),
    out: Path = typer.Option(..., help="PDF file to write."),
    payload: str = typer.Option("url", help="url or emv, as for `zhifu qr sticker`."),
    skip_missing: bool = typer.Option(
        False, help="Leave out merchants without a static code instead of failing."
    ),
) -> None:
    """An A4 sheet of stickers (2 × 3 a page, merchant id under each) for field staff to cut and hand out."""
    from zhifu.cli import database
    from zhifu.core.errors import ZhifuError
    from zhifu.merchants import list_merchants
    from zhifu.qr.sticker import render_sheet_pdf
    from zhifu.qr.sticker.pdf import SHEET_STICKERS_MAX

    try:
        kind = _payload_kind(payload)
        infos: list[StickerInfo] = []
        with database().tx() as conn:
            ids = list(merchant_ids or [])
            if not ids:
                after = None
                while len(ids) <= SHEET_STICKERS_MAX:
                    page, more = list_merchants(
                        conn, status="active", town_code=town, limit=100, starting_after=after
                    )
                    ids += [m["id"] for m in page]
                    if not more or not page:
                        break
                    after = page[-1]["id"]
            for mid in ids:
                try:
                    infos.append(_merchant_sticker(conn, mid, kind))
                except InvalidRequest:
                    if not skip_missing:
                        raise
        out.write_bytes(render_sheet_pdf(infos))
    except ZhifuError as exc:
        _fail(exc.message)
    typer.echo(f"{out} ({len(infos)} stickers)")
