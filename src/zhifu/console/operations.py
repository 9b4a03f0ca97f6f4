"""The operator's day in the console: onboard, issue codes, settle, import the bank's result, reconcile a
rail-day, work a case, run campaigns, change fee plans — through the same services (and the same maker-checker)
as the API, scoped to the operator's acquirer.

Platform-wide work (a date's settlement run, a rail's reconciliation, the fee book) belongs to the acquirer that
runs the platform: the county profile's county rural bank (its first acquirer otherwise). Other acquirers'
operators read those pages and act on their own merchants, cases and campaigns only.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError
from sqlalchemy import Connection, delete, insert, select

from zhifu.console.models import console_form_tokens
from zhifu.console.service import User, _visible, require
from zhifu.core import clock
from zhifu.core.errors import InvalidRequest, NotFound, PermissionDenied, ZhifuError
from zhifu.core.messages import N_
from zhifu.core.money import parse_yuan

FORM_TOKEN_TTL_S: Final = 7 * 24 * 3600  # a form left open over a week is stale; its token row is purged
UPLOAD_BYTES_MAX: Final = (
    16 * 1024 * 1024
)  # a county's rail-day statement is a few MB (the body limit allows 17)
NOTE_CHARS_MAX: Final = 500

# Why pydantic refused a field, as msgids (zh_CN in the catalogue; the page translates them).
PYDANTIC_MESSAGES: Final[dict[str, str]] = {
    "missing": N_("Required."),
    "string_too_short": N_("Required."),
    "string_too_long": N_("Too long."),
    "literal_error": N_("Choose one of the options."),
    "date_from_datetime_parsing": N_("Write the date as YYYY-MM-DD."),
    "date_parsing": N_("Write the date as YYYY-MM-DD."),
    "greater_than": N_("Must be more than zero."),
    "greater_than_equal": N_("Must not be negative."),
    "less_than_equal": N_("Too large."),
    "int_type": N_("Must be a whole number."),
    "string_pattern_mismatch": N_("Not in the expected form."),
}


class FormError(InvalidRequest):
    """Bad input in a console form: the field it names and why, as an English msgid (with the values it is
    formatted with) that the page showing the form translates; `message` is the English text."""

    type = "invalid_request_error"
    code = "invalid_form"
    http_status = 400

    def __init__(self, field: str, msgid: str, values: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(values or {})
        super().__init__(msgid % self.values if self.values else msgid, param=field)
        self.field = field
        self.msgid = msgid


def from_validation(exc: ValidationError, aliases: dict[str, str] | None = None) -> FormError:
    """The first problem pydantic found, as a FormError naming the form's field."""
    err = exc.errors()[0]
    field = str(err["loc"][0]) if err.get("loc") else "form"
    field = (aliases or {}).get(field, field)
    return FormError(field, PYDANTIC_MESSAGES.get(err["type"]) or err["msg"])


def bad(field: str, msgid: str, **values: Any) -> FormError:
    return FormError(field, msgid, values)


# ---------------------------------------------------------------- forms act once


def new_form_token() -> str:
    return secrets.token_urlsafe(32)


def claimed(conn: Connection, user: User, token: str) -> str | None:
    """The result URL of a form already submitted with this token, or None when it is new."""
    row = conn.execute(select(console_form_tokens).where(console_form_tokens.c.token == token)).first()
    if row is None:
        return None
    return row.result_url if row.user_id == user.id else ""


def claim(conn: Connection, user: User, token: str, result_url: str) -> None:
    """Record the submission in the action's own transaction; a form without a token is refused."""
    if not token or len(token) > 64:
        raise bad("form", N_("The form is out of date; open it again."))
    at = clock.now()
    conn.execute(
        delete(console_form_tokens).where(
            console_form_tokens.c.created_at < at - dt.timedelta(seconds=FORM_TOKEN_TTL_S)
        )
    )
    conn.execute(
        insert(console_form_tokens),
        [{"token": token, "user_id": user.id, "result_url": result_url[:300], "created_at": at}],
    )


def once(db: Any, user: User, token: str, action: Callable[[Connection], str]) -> str:
    """Run `action` (which returns where to go next) and record the form's token in one transaction; a second
    submission of the same form acts not at all and goes where the first went."""
    with db.read() as c:
        seen = claimed(c, user, token)
    if seen is not None:
        return seen or "/console/operator"

    def go(conn: Connection) -> str:
        again = claimed(conn, user, token)
        if again is not None:
            return again or "/console/operator"
        url = action(conn)
        claim(conn, user, token, url)
        return url

    return db.run(go)


def once_outside(db: Any, user: User, token: str, action: Callable[[], str]) -> str:
    """For actions that own their transactions (settlement, imports, reconciliation): claim first, release the
    claim if the action fails, so a corrected resubmission runs."""
    with db.read() as c:
        seen = claimed(c, user, token)
    if seen is not None:
        return seen or "/console/operator"
    db.run(lambda c: claim(c, user, token, ""))
    try:
        url = action()
    except BaseException:
        db.run(lambda c: c.execute(delete(console_form_tokens).where(console_form_tokens.c.token == token)))
        raise
    from sqlalchemy import update

    db.run(
        lambda c: c.execute(
            update(console_form_tokens)
            .where(console_form_tokens.c.token == token)
            .values(result_url=url[:300])
        )
    )
    return url


# ---------------------------------------------------------------- who may do what


def platform_acquirer() -> str | None:
    """The acquirer that runs the platform: the county rural bank, else the profile's first acquirer."""
    from zhifu.merchants import county

    acquirers = [i for i in county().institutions if "acquirer" in i.roles]
    lead = next(
        (i for i in acquirers if getattr(i, "is_county_rural", False)), acquirers[0] if acquirers else None
    )
    return lead.id if lead else None


def runs_platform(user: User) -> bool:
    return user.role == "operator" and user.institution_id == platform_acquirer()


def require_platform(user: User) -> None:
    require(user, "operator")
    if not runs_platform(user):
        raise PermissionDenied("only the platform's acquirer runs this", code="forbidden")


def institution_name(inst_id: str | None) -> str:
    from zhifu.merchants import county

    return next((i.name for i in county().institutions if i.id == inst_id), inst_id or "")


# ---------------------------------------------------------------- onboarding

APPLICATION_FIELDS: Final = (
    "type",
    "legal_name",
    "short_name",
    "credit_code",
    "legal_person_name",
    "legal_person_id",
    "phone",
    "mcc",
    "town_code",
    "village_code",
    "address",
    "settle_bank",
    "settle_account_no",
    "settle_account_name",
    "settlement_cycle",
)
FIELD_CHARS_MAX: Final = 200


def application_of(form: dict[str, str], user: User) -> Any:
    """The form as a MerchantApplication for the operator's own acquirer; bad input names the field."""
    from zhifu.merchants import MerchantApplication

    values: dict[str, Any] = {}
    for f in APPLICATION_FIELDS:
        v = (form.get(f) or "").strip()
        if len(v) > FIELD_CHARS_MAX:
            raise bad(f, N_("Too long."))
        if v or f not in ("credit_code", "village_code"):
            values[f] = v
    values["acquirer_id"] = user.institution_id
    if values.get("settlement_cycle") == "":
        values.pop("settlement_cycle")
    try:
        return MerchantApplication(**values)
    except ValidationError as exc:
        raise from_validation(exc) from exc


def check_field(field: str, form: dict[str, str], user: User) -> ZhifuError | None:
    """Live validation of one onboarding field: None when it passes, else the error naming it (the page words
    it)."""
    from zhifu.reference import account_name_ok, check_credit_code, check_resident_id, get_mcc

    v = (form.get(field) or "").strip()
    try:
        if field == "credit_code":
            if form.get("type") == "micro":
                if v:
                    raise InvalidRequest(
                        "小微商户无须统一社会信用代码 / a micro merchant has no credit code", param=field
                    )
            elif not v:
                raise bad(field, N_("Required."))
            else:
                check_credit_code(v, param=field)
        elif field == "legal_person_id":
            check_resident_id(v, param=field)
        elif field == "settle_account_name":
            account_name_ok(
                form.get("type") or "",
                (form.get("legal_name") or "").strip(),
                (form.get("legal_person_name") or "").strip(),
                v,
            )
        elif field == "phone":
            if not re.fullmatch(r"1[3-9][0-9]{9}", v):
                raise bad(field, N_("An 11-digit mobile number starting with 1."))
        elif field == "mcc":
            get_mcc(v)
        else:
            raise bad("form", N_("Not accepted."))
    except ZhifuError as exc:
        if exc.param in (None, "account_name") and field != "form":
            exc.param = field
        return exc
    return None


def onboard(conn: Connection, user: User, form: dict[str, str]) -> dict[str, Any]:
    """Submit an application for a merchant of the operator's acquirer; it waits in the review queue."""
    from zhifu.merchants import service as merchants

    require(user, "operator")
    app = application_of(form, user)
    return merchants.apply(conn, app)


def issue_code(conn: Connection, user: User, merchant_id: str, *, replace: bool) -> dict[str, Any]:
    """The merchant's static code (a new one when a sticker is lost), for one of the operator's merchants."""
    from zhifu.codes import service as codes

    require(user, "operator")
    row = _visible(conn, user, merchant_id)
    return codes.issue_static(conn, row.id, replace=replace)


def merchant_code(conn: Connection, user: User, merchant_id: str) -> dict[str, Any] | None:
    from zhifu.codes import service as codes

    row = _visible(conn, user, merchant_id)
    return codes.static_code_for(conn, row.id)


def sticker(conn: Connection, user: User, merchant_id: str) -> bytes:
    from zhifu.merchants import service as merchants
    from zhifu.qr.sticker import StickerInfo, render_pdf

    code = merchant_code(conn, user, merchant_id)
    if code is None:
        raise NotFound("no static code yet", param="merchant")
    m = merchants.get_merchant(conn, merchant_id)
    return render_pdf(StickerInfo(short_name=m["short_name"], merchant_id=m["id"], code_url=code["url"]))


# ---------------------------------------------------------------- settlement

PAYOUT_FILES: Final = {
    "csv": (".csv", "text/csv; charset=utf-8"),
    "bank": (".gbk.txt", "text/plain; charset=gbk"),
}


def parse_date(value: str, field: str) -> dt.date:
    value = (value or "").strip()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise bad(field, N_("Write the date as YYYY-MM-DD.") if value else N_("Required.")) from None


def run_settlement(db: Any, user: User, date: dt.date) -> dict[str, Any]:
    from zhifu.settlement import service as settlement

    require_platform(user)
    return settlement.run_settlement(db, date)


def payout_file(conn: Connection, user: User, date: dt.date, kind: str) -> tuple[bytes, str, str]:
    """A settled date's payout file, as written for the bank (GBK fixed width) or as CSV."""
    from zhifu.settlement import service as settlement

    require_platform(user)
    if kind not in PAYOUT_FILES:
        raise NotFound(f"no file kind {kind}", param="kind")
    batch = settlement.get_batch(conn, date)
    ext, media = PAYOUT_FILES[kind]
    path = Path(batch.get("file_dir") or "") / f"{batch['batch_no']}{ext}"
    if not batch.get("file_dir") or not path.is_file():
        raise NotFound("the payout files are not written yet; run the date again", param="date")
    return path.read_bytes(), path.name, media


def import_bank_result(db: Any, user: User, data: bytes, filename: str) -> dict[str, Any]:
    from zhifu.settlement import service as settlement

    require_platform(user)
    if not data:
        raise bad("file", N_("Choose a file."))
    if len(data) > UPLOAD_BYTES_MAX:
        raise bad("file", N_("The file is too large."))
    return settlement.import_result(db, data, filename=filename[:200])


# ---------------------------------------------------------------- reconciliation


def reconcile_day(
    db: Any, user: User, channel: str, date: dt.date, data: bytes | None, filename: str
) -> list[dict[str, Any]]:
    """Import the rail-day's statement (the uploaded file, or downloaded through the rail's connector), then
    reconcile that channel and date. The same file twice is recorded once; the run can be repeated."""
    from zhifu.channels import CHANNELS
    from zhifu.recon import service as recon
    from zhifu.recon.statements import fetch_statement, reconcile

    require_platform(user)
    if channel not in CHANNELS:
        raise bad("channel", N_("Choose one of the options."))
    if date >= clock.now().astimezone(clock.SHANGHAI).date():
        raise bad("business_date", N_("Only a day that has ended can be reconciled."))
    by = f"console:{user.username}"
    if data:
        if len(data) > UPLOAD_BYTES_MAX:
            raise bad("file", N_("The file is too large."))
        db.run(lambda c: recon.import_statement(c, channel, date, data, filename=filename[:200], by=by))
    else:
        fetch_statement(db, channel, date, by=by)
    return reconcile(db, date, channel=channel, by=by)


# ---------------------------------------------------------------- cases (maker-checker)


def _case_scope(conn: Connection, user: User, case_id: str) -> dict[str, Any]:
    """A case the operator may work: one of its acquirer's merchants, or (no merchant) the platform's."""
    from zhifu.recon import service as recon

    require(user, "operator")
    case = recon.get_case(conn, case_id)
    if case["merchant_id"]:
        _visible(conn, user, case["merchant_id"])
    elif not runs_platform(user):
        raise NotFound(f"no reconciliation case {case_id}", param="case")
    return case


def get_case(conn: Connection, user: User, case_id: str) -> dict[str, Any]:
    return _case_scope(conn, user, case_id)


def visible_cases(conn: Connection, user: User, status: str) -> list[dict[str, Any]]:
    from zhifu.merchants.read import merchants_view as merchants
    from zhifu.recon import service as recon

    require(user, "operator")
    rows = recon.list_cases(conn, status=status, limit=500)
    mine = {
        r
        for (r,) in conn.execute(select(merchants.c.id).where(merchants.c.acquirer_id == user.institution_id))
    }
    platform = runs_platform(user)
    return [r for r in rows if (r["merchant_id"] in mine) or (not r["merchant_id"] and platform)][:200]


def actor(user: User) -> str:
    return f"console:{user.username}"


def case_decision(
    conn: Connection, user: User, case_id: str, decision: str, action: str, note: str
) -> dict[str, Any]:
    from zhifu.recon import service as recon

    case = _case_scope(conn, user, case_id)
    note = note.strip()
    if len(note) > NOTE_CHARS_MAX:
        raise bad("note", N_("Too long."))
    if decision == "propose":
        if action not in case["allowed_actions"]:
            raise bad("action", N_("Choose one of the options."))
        return recon.propose(conn, case_id, action, actor(user), note=note)
    if decision == "approve":
        return recon.approve(conn, case_id, actor(user), note=note)
    if decision == "reject":
        if not note:
            raise bad("note", N_("Say why the proposal is sent back."))
        return recon.reject(conn, case_id, actor(user), note=note)
    raise bad("action", N_("Choose one of the options."))


# ---------------------------------------------------------------- campaigns

GOVERNMENT: Final = ("county_finance", "commerce_bureau", "government")


def campaign_funders(user: User) -> list[str]:
    """Who an operator may name as funder: its own bank; the platform's operator also the government's funds."""
    own = [user.institution_id] if user.institution_id else []
    return own + list(GOVERNMENT) if runs_platform(user) else own


def _yuan(value: str, field: str, *, required: bool = True) -> int | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise bad(field, N_("Required."))
        return None
    try:
        fen = parse_yuan(value)
    except ZhifuError:
        raise bad(field, N_("An amount in yuan, e.g. 12.50.")) from None
    if fen <= 0:
        raise bad(field, N_("Must be more than zero."))
    return fen


def create_campaign(conn: Connection, user: User, form: dict[str, str]) -> dict[str, Any]:
    """A random instant discount for payments under an amount, between two dates, funded by the operator's bank
    (or, for the platform's operator, by a government funder)."""
    from zhifu.incentives import CreateCampaign, Discount, Rules
    from zhifu.incentives import service as incentives

    require(user, "operator")
    name = (form.get("name") or "").strip()
    if not name:
        raise bad("name", N_("Required."))
    if len(name) > 100:
        raise bad("name", N_("Too long."))
    funder = form.get("funder") or ""
    if funder not in campaign_funders(user):
        raise bad("funder", N_("Choose one of the options."))
    budget = _yuan(form.get("budget", ""), "budget")
    starts = parse_date(form.get("starts_at", ""), "starts_at")
    ends = parse_date(form.get("ends_at", ""), "ends_at")
    if ends <= starts:
        raise bad("ends_at", N_("Must be after the start date."))
    lo = _yuan(form.get("discount_min", ""), "discount_min")
    hi = _yuan(form.get("discount_max", ""), "discount_max")
    assert lo is not None and hi is not None
    if hi < lo:
        raise bad("discount_max", N_("Must not be less than the smallest discount."))
    below = _yuan(form.get("amount_below", ""), "amount_below", required=False)
    pct = (form.get("probability") or "").strip()
    if not re.fullmatch(r"[0-9]{1,3}", pct) or not 1 <= int(pct) <= 100:
        raise bad("probability", N_("A whole percentage from 1 to 100."))
    channel = form.get("channel") or ""
    start = dt.datetime.combine(starts, dt.time(), clock.SHANGHAI)
    end = dt.datetime.combine(ends, dt.time(), clock.SHANGHAI)
    try:
        rules = Rules(
            starts_at=start,
            ends_at=end,
            channels=[channel] if channel else [],
            amount_below_fen=below,
            discount=Discount(probability_ppm=int(pct) * 10_000, min_fen=lo, max_fen=hi),
        )
        req = CreateCampaign(name=name, funder=funder, budget_fen=budget, rules=rules)
    except ValidationError as exc:
        raise from_validation(exc) from exc
    return incentives.create_campaign(conn, req)


def _campaign_scope(conn: Connection, user: User, campaign_id: str) -> dict[str, Any]:
    from zhifu.incentives import service as incentives

    require(user, "operator")
    c = incentives.get_campaign(conn, campaign_id)
    if c["funder"] not in campaign_funders(user):
        raise NotFound(f"no campaign {campaign_id}", param="id")
    return c


def campaign_status(conn: Connection, user: User, campaign_id: str, action: str) -> dict[str, Any]:
    from zhifu.incentives import service as incentives

    _campaign_scope(conn, user, campaign_id)
    if action not in ("pause", "resume", "end"):
        raise bad("action", N_("Choose one of the options."))
    return incentives.set_status(conn, campaign_id, action)  # type: ignore[arg-type]


def may_manage_campaign(user: User, campaign: dict[str, Any]) -> bool:
    return campaign["funder"] in campaign_funders(user)


# ---------------------------------------------------------------- fee plans


def parse_percent(value: str, field: str) -> int:
    """A rate typed as a percentage ("0.38") into parts per million (3800), exactly, without floats."""
    value = (value or "").strip().rstrip("%").strip()
    m = re.fullmatch(r"([0-9]{1,3})(?:\.([0-9]{1,4}))?", value)
    if not m:
        raise bad(field, N_("A percentage with at most four decimals, e.g. 0.38."))
    ppm = int(m.group(1)) * 10_000 + int((m.group(2) or "").ljust(4, "0"))
    if ppm > 1_000_000:
        raise bad(field, N_("Too large."))
    return ppm


def create_fee_rule(conn: Connection, user: User, form: dict[str, str]) -> dict[str, Any]:
    from zhifu.fees import service as fees

    require_platform(user)
    rate = parse_percent(form.get("rate", ""), "rate")
    min_fen = _yuan(form.get("min", ""), "min", required=False) or 0
    cap_fen = _yuan(form.get("cap", ""), "cap", required=False)
    start = parse_date(form.get("effective_from", ""), "effective_from")
    end = (
        parse_date(form["effective_to"], "effective_to") if (form.get("effective_to") or "").strip() else None
    )
    if start < clock.now().astimezone(clock.SHANGHAI).date():
        raise bad("effective_from", N_("A fee change takes effect today or later, never in the past."))
    if end is not None and end <= start:
        raise bad("effective_to", N_("Must be after the start date."))
    if cap_fen is not None and cap_fen < min_fen:
        raise bad("cap", N_("Must not be less than the minimum."))
    note = (form.get("note") or "").strip()
    try:
        req = fees.RuleIn(
            channel=form.get("channel") or "*",
            card_type=form.get("card_type") or "*",
            merchant_class=(form.get("merchant_class") or "*").strip() or "*",
            rate_ppm=rate,
            min_fen=min_fen,
            cap_fen=cap_fen,
            effective_from=start,
            effective_to=end,
            note=note,
        )
    except ValidationError as exc:
        raise from_validation(exc, {"rate_ppm": "rate", "min_fen": "min", "cap_fen": "cap"}) from exc
    return fees.create_rule(conn, req)


def end_fee_rule(conn: Connection, user: User, rule_id: str, effective_to: str) -> dict[str, Any]:
    from zhifu.fees import service as fees

    require_platform(user)
    end = parse_date(effective_to, "effective_to")
    if end < clock.now().astimezone(clock.SHANGHAI).date():
        raise bad("effective_to", N_("A fee change takes effect today or later, never in the past."))
    return fees.end_rule(conn, rule_id, end)
