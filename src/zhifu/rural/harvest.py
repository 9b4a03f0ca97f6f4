"""Farmers' harvest cards (农民丰收卡): issuers register the cards they issued (town, village, date; the number
kept encrypted with a blind index, shown masked); activation (first money in) and first use (first money out) are
detected from the movements that carry the card: payouts to it, e-account top-ups from it and transfers to it,
withdrawals at village service points. Only county rural banking institutions issue them, so every card
qualifies for the pilot's cost refund and subsidy (incentives' county_rural_issuers rule)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, and_, func, insert, select, update

from zhifu.core import clock
from zhifu.core.errors import ConflictError, InvalidRequest
from zhifu.core.ids import new_id_fast
from zhifu.merchants import county as county_profile
from zhifu.privacy import blind_index, encrypt, mask_account, mask_name
from zhifu.rural.issuer import issuer
from zhifu.rural.models import harvest_cards

IMPORT_ROWS_MAX = 50_000  # one issuer's file; a county's pilot is about a thousand cards
IMPORT_FIELDS = ("card_no", "holder", "town_code", "village_code", "issued_on")


class HarvestCardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issuer_id: str = Field(min_length=1, max_length=40)
    card_no: str = Field(min_length=16, max_length=19)
    holder: str = Field(min_length=1, max_length=40)
    town_code: str = Field(pattern=r"^[0-9]{9}$")
    village_code: str | None = Field(default=None, pattern=r"^[0-9]{12}$")
    issued_on: dt.date


def county_rural_issuers() -> frozenset[str]:
    return frozenset(i.id for i in county_profile().institutions if i.is_county_rural and "issuer" in i.roles)


def _check(req: HarvestCardIn) -> None:
    if req.issuer_id not in county_rural_issuers():
        raise InvalidRequest(
            f"丰收卡须由县域农村银行机构发行，{req.issuer_id} 不是 / harvest cards are issued by the "
            f"county's rural banks ({', '.join(sorted(county_rural_issuers()))})",
            param="issuer_id",
        )
    problem = issuer().card_problem(req.card_no)
    if problem:
        raise InvalidRequest(problem, param="card_no")
    p = county_profile()
    if req.town_code not in {t.code for t in p.towns}:
        raise InvalidRequest(f"未知乡镇 {req.town_code} / unknown town", param="town_code")
    if req.village_code is not None:
        v = next((v for v in p.villages if v.code == req.village_code), None)
        if v is None or v.town != req.town_code:
            raise InvalidRequest(
                f"村 {req.village_code} 不在该乡镇 / the village is not in town {req.town_code}",
                param="village_code",
            )
    if req.issued_on > clock.now().date() + dt.timedelta(days=1):
        raise InvalidRequest("发卡日期不能晚于今天 / issued_on is in the future", param="issued_on")


def _row(req: HarvestCardIn, conn: Connection, at: dt.datetime) -> dict[str, Any]:
    return {
        "id": new_id_fast("hc", int(at.timestamp() * 1000)),
        "issuer_id": req.issuer_id,
        "card_index": blind_index(req.card_no),
        "card_enc": encrypt(req.card_no, conn),
        "card_masked": mask_account(req.card_no),
        "holder_masked": mask_name(req.holder),
        "town_code": req.town_code,
        "village_code": req.village_code,
        "issued_on": req.issued_on,
        "activated_at": None,
        "first_used_at": None,
        "created_at": at,
    }


def register_card(conn: Connection, req: HarvestCardIn, *, at: dt.datetime | None = None) -> dict[str, Any]:
    at = at or clock.now()
    _check(req)
    if conn.execute(
        select(harvest_cards.c.id).where(harvest_cards.c.card_index == blind_index(req.card_no))
    ).first():
        raise ConflictError(
            f"卡 {mask_account(req.card_no)} 已登记 / the card is already registered",
            param="card_no",
            code="card_registered",
        )
    row = _row(req, conn, at)
    conn.execute(insert(harvest_cards), [row])
    return _public(conn.execute(select(harvest_cards).where(harvest_cards.c.id == row["id"])).one())


def import_cards(conn: Connection, issuer_id: str, data: bytes, *, at: dt.datetime | None = None) -> int:
    """An issuer's CSV (card_no,holder,town_code,village_code,issued_on): all rows or none; a bad row is refused
    with its line and field named."""
    at = at or clock.now()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidRequest("文件须为 UTF-8 / the file must be UTF-8", param="file") from None
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != IMPORT_FIELDS:
        raise InvalidRequest(
            f"第 1 行：表头须为 {','.join(IMPORT_FIELDS)} / line 1: the header must be "
            f"{','.join(IMPORT_FIELDS)}",
            param="line 1",
        )
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, rec in enumerate(reader, start=2):
        if n - 1 > IMPORT_ROWS_MAX:
            raise InvalidRequest(
                f"最多 {IMPORT_ROWS_MAX} 行 / at most {IMPORT_ROWS_MAX} rows", param=f"line {n}"
            )
        try:
            req = HarvestCardIn(
                issuer_id=issuer_id,
                card_no=(rec["card_no"] or "").strip(),
                holder=(rec["holder"] or "").strip(),
                town_code=(rec["town_code"] or "").strip(),
                village_code=(rec["village_code"] or "").strip() or None,
                issued_on=(rec["issued_on"] or "").strip(),
            )  # type: ignore[arg-type]
            _check(req)
        except InvalidRequest as exc:
            raise InvalidRequest(
                f"第 {n} 行 {exc.param}：{exc.message}", param=f"line {n}: {exc.param}"
            ) from None
        except ValueError as exc:  # pydantic's ValidationError
            err = exc.errors()[0]  # type: ignore[attr-defined]
            field = ".".join(str(x) for x in err["loc"])
            raise InvalidRequest(f"第 {n} 行 {field}：{err['msg']}", param=f"line {n}: {field}") from None
        idx = blind_index(req.card_no)
        if idx in seen:
            raise InvalidRequest(
                f"第 {n} 行 card_no：文件内重复 / repeated in the file", param=f"line {n}: card_no"
            )
        seen.add(idx)
        rows.append(_row(req, conn, at))
    if not rows:
        raise InvalidRequest("文件没有数据行 / the file has no rows", param="file")
    taken = set()
    for start in range(0, len(rows), 500):
        chunk = [r["card_index"] for r in rows[start : start + 500]]
        taken |= {
            i
            for (i,) in conn.execute(
                select(harvest_cards.c.card_index).where(harvest_cards.c.card_index.in_(chunk))
            )
        }
    for n, r in enumerate(rows, start=2):
        if r["card_index"] in taken:
            raise InvalidRequest(
                f"第 {n} 行 card_no：已登记 / already registered", param=f"line {n}: card_no"
            )
    conn.execute(insert(harvest_cards), rows)
    return len(rows)


def _public(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "harvest_card",
        "issuer_id": r.issuer_id,
        "card": r.card_masked,
        "holder": r.holder_masked,
        "town_code": r.town_code,
        "village_code": r.village_code,
        "issued_on": r.issued_on,
        "activated_at": r.activated_at,
        "first_used_at": r.first_used_at,
    }


def list_cards(conn: Connection, *, issuer_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    q = select(harvest_cards).order_by(harvest_cards.c.created_at.desc()).limit(max(1, min(limit, 1000)))
    if issuer_id:
        q = q.where(harvest_cards.c.issuer_id == issuer_id)
    return [_public(r) for r in conn.execute(q)]


def card_credited(conn: Connection, card_index: str, at: dt.datetime) -> None:
    """Money reached the card: it is activated if it was not."""
    conn.execute(
        update(harvest_cards)
        .where(and_(harvest_cards.c.card_index == card_index, harvest_cards.c.activated_at.is_(None)))
        .values(activated_at=at)
    )


def card_used(conn: Connection, card_index: str, at: dt.datetime) -> None:
    """Money left the card: its first use (and its activation, if nothing came in first)."""
    card_credited(conn, card_index, at)
    conn.execute(
        update(harvest_cards)
        .where(and_(harvest_cards.c.card_index == card_index, harvest_cards.c.first_used_at.is_(None)))
        .values(first_used_at=at)
    )


def cards_credited(conn: Connection, card_indexes: list[str], at: dt.datetime) -> None:
    for start in range(0, len(card_indexes), 500):
        conn.execute(
            update(harvest_cards)
            .where(
                and_(
                    harvest_cards.c.card_index.in_(card_indexes[start : start + 500]),
                    harvest_cards.c.activated_at.is_(None),
                )
            )
            .values(activated_at=at)
        )


def figures(conn: Connection, as_of: dt.date) -> dict[str, Any]:
    """Cards issued by as_of, activated and used by its end (Beijing), by town."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), clock.SHANGHAI)
    issued = harvest_cards.c.issued_on <= as_of
    total = int(conn.execute(select(func.count()).where(issued)).scalar_one())
    activated = int(
        conn.execute(select(func.count()).where(issued, harvest_cards.c.activated_at < end)).scalar_one()
    )
    used = int(
        conn.execute(select(func.count()).where(issued, harvest_cards.c.first_used_at < end)).scalar_one()
    )
    by_town = {
        t: int(n)
        for t, n in conn.execute(
            select(harvest_cards.c.town_code, func.count()).where(issued).group_by(harvest_cards.c.town_code)
        )
    }
    return {"issued": total, "activated": activated, "used": used, "by_town": by_town}
