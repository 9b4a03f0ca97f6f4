"""The programme office's use cases (seed §三.1, §二.5–7): work items with their units, progress updates and
overdue reminders; 会商 meetings whose decisions become tracked actions; training and publicity; commerce circles
and pilot streets measured from payments; turnover evidence for lenders under the merchant's consent (the consent
capability's gate, reused), the credit granted on it; issuers' SME-product reports; the dashboard's figures.

Who may write: the office (a regulator-role user of the unit hosting the office, or a regulator with no unit
recorded) writes items, meetings, trainings and circles; a member unit posts updates on the items it leads or
shares and closes the actions it owns; a lender is an acquirer's operator; a merchant acts for itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from ulid import ULID

from zhifu import audit
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound, PermissionDenied
from zhifu.db import Database
from zhifu.office.models import (
    CIRCLE_KINDS,
    ITEM_STATUSES,
    PUBLICITY_KINDS,
    SME_PRODUCTS,
    office_actions,
    office_attachments,
    office_attendees,
    office_circle_merchants,
    office_circles,
    office_credit,
    office_disclosures,
    office_items,
    office_meetings,
    office_members,
    office_milestones,
    office_publicity,
    office_reminders,
    office_sme_reports,
    office_trainings,
    office_units,
    office_updates,
)

PPM: Final = 1_000_000
TEXT_CHARS_MAX: Final = 4_000
TITLE_CHARS_MAX: Final = 100
DECISIONS_MAX: Final = 30  # one meeting's decisions; more is a plan, not minutes
ATTENDEES_MAX: Final = 500  # one training session's shops
ATTACHMENTS_MAX: Final = 5
ATTACHMENT_BYTES_MAX: Final = 2 * 1024 * 1024
ATTACHMENT_TYPES: Final = (
    "application/pdf",
    "image/jpeg",
    "image/png",
    "text/plain",
    "text/csv",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)
CIRCLE_MERCHANTS_MAX: Final = 2_000  # a street or district of a county; bounds the payments read per circle
CIRCLE_WINDOW_DAYS: Final = 30
ADOPTION_WINDOW_DAYS: Final = 30  # before/after a town's first training
EVIDENCE_MONTHS_DEFAULT: Final = 6
CREDIT_FEN_MAX: Final = 10_000_000_00  # 1,000 万元: far above any micro-loan; a typo guard
SME_ITEMS_MAX: Final = 2_000
CIRCLES_TARGET: Final = 10  # §二.7: 10 个以上商贸圈 in about six months
LIST_MAX: Final = 200
FIGURES: Final[dict[str, str]] = {
    "circles_launched": "已建成商贸圈 / commerce circles launched",
    "pilot_streets_launched": "已建成样板街 / pilot streets launched",
    "trainings": "培训场次 / training sessions",
    "cashiers_trained": "培训收银员 / cashiers trained",
    "publicity_reach": "宣传覆盖人次 / publicity reach",
    "credit_granted_fen": "支付数据支持的融资 / credit supported by payment data (fen)",
    "merchants_active": "活跃商户 / active merchants",
}


# ---------------------------------------------------------------- who is acting


@dataclass(frozen=True, slots=True)
class Actor:
    """A person acting in the programme: their username, unit (None for lenders and merchants), and whether
    they act for the office."""

    name: str
    unit_id: str | None
    is_office: bool
    institution: str | None = None  # an acquirer's operator (lender, trainer)


def _new(prefix: str) -> str:
    return f"{prefix}_{ULID()}"


def _today() -> dt.date:
    return clock.now().astimezone(SHANGHAI).date()


def _county() -> Any:
    from zhifu.merchants import county

    return county()


def office_unit(conn: Connection) -> str | None:
    return conn.execute(
        select(office_units.c.id).where(office_units.c.hosts_office.is_(True))
    ).scalar_one_or_none()


def actor_for(conn: Connection, user: Any) -> Actor:
    """The acting person for a console user: a regulator's unit is its membership row, else the office's unit."""
    if user.role != "regulator":
        return Actor(user.username, None, False, user.institution_id)
    host = office_unit(conn)
    unit = conn.execute(select(office_members.c.unit_id).where(office_members.c.user_id == user.id)).scalar()
    unit = unit or host
    return Actor(user.username, unit, unit is not None and unit == host)


def _require_office(actor: Actor) -> None:
    if not actor.is_office:
        raise PermissionDenied(
            "只有领导小组办公室可以执行此操作 / only the programme office may do this", param="actor"
        )


def set_member(conn: Connection, user_id: str, unit_id: str) -> dict[str, Any]:
    """Record the unit a regulator-role user speaks for."""
    if conn.execute(select(office_units.c.id).where(office_units.c.id == unit_id)).first() is None:
        raise InvalidRequest(f"未知成员单位 / unknown unit {unit_id!r}", param="unit")
    conn.execute(delete(office_members).where(office_members.c.user_id == user_id))
    conn.execute(
        insert(office_members), [{"user_id": user_id, "unit_id": unit_id, "created_at": clock.now()}]
    )
    audit.record(conn, None, "office.member_set", "console_user", user_id, {"unit": unit_id})
    return {"user_id": user_id, "unit_id": unit_id}


# ---------------------------------------------------------------- loading the programme from the county profile


def load_programme(conn: Connection, profile: Any) -> dict[str, int]:
    """Units, work items, milestones and the profile's commerce circles from the county profile. Loading again
    refreshes text, units and due dates and adds what is new; progress, updates and launches are kept."""
    prog = profile.programme
    if prog is None:
        raise InvalidRequest(
            f"县域配置 {profile.id} 未包含领导小组与工作事项 / profile {profile.id} has no programme",
            param="profile",
        )
    conn.execute(delete(office_units))
    conn.execute(
        insert(office_units),
        [{"id": u.id, "name": u.name, "hosts_office": u.hosts_office} for u in prog.units],
    )
    have = {r.number for r in conn.execute(select(office_items.c.number))}
    now = clock.now()
    for w in prog.work_items:
        values = {
            "section": w.section,
            "title": w.title,
            "text": w.text,
            "lead_unit": w.lead,
            "co_units": ",".join(w.co),
            "due": w.due,
        }
        if w.number in have:
            conn.execute(update(office_items).where(office_items.c.number == w.number).values(**values))
        else:
            conn.execute(
                insert(office_items),
                [
                    {
                        "number": w.number,
                        **values,
                        "status": "not_started",
                        "progress_ppm": 0,
                        "updated_at": now,
                    }
                ],
            )
        seqs = {
            r.seq
            for r in conn.execute(
                select(office_milestones.c.seq).where(office_milestones.c.item_number == w.number)
            )
        }
        for i, m in enumerate(w.milestones, start=1):
            if i in seqs:
                conn.execute(
                    update(office_milestones)
                    .where(office_milestones.c.item_number == w.number, office_milestones.c.seq == i)
                    .values(title=m.title, due=m.due)
                )
            else:
                conn.execute(
                    insert(office_milestones),
                    [{"item_number": w.number, "seq": i, "title": m.title, "due": m.due, "done_on": None}],
                )
    circles = {r.id for r in conn.execute(select(office_circles.c.id))}
    pilots = set(profile.pilot_towns)
    fresh = [
        {
            "id": c.id,
            "name": c.name,
            "kind": "street" if c.pilot and c.town in pilots else "circle",
            "town_code": c.town,
            "lead_institution": c.lead_acquirer,
            "area": "",
            "launch_date": None,
            "end_date": None,
            "created_at": now,
        }
        for c in profile.commerce_circles
        if c.id not in circles
    ]
    if fresh:
        conn.execute(insert(office_circles), fresh)
    return {"units": len(prog.units), "work_items": len(prog.work_items), "circles_added": len(fresh)}


def ensure_loaded(db: Database) -> None:
    """Load the configured county's programme the first time the office is used."""
    with db.read() as c:
        empty = c.execute(select(func.count()).select_from(office_units)).scalar_one() == 0
    if empty and _county().programme is not None:
        db.run(
            lambda c: (
                load_programme(c, _county())
                if c.execute(select(func.count()).select_from(office_units)).scalar_one() == 0
                else None
            )
        )


# ---------------------------------------------------------------- work items


def _units(conn: Connection) -> dict[str, str]:
    return {r.id: r.name for r in conn.execute(select(office_units))}


def units(conn: Connection) -> list[dict[str, Any]]:
    return [
        {"id": r.id, "name": r.name, "hosts_office": bool(r.hosts_office)}
        for r in conn.execute(
            select(office_units).order_by(office_units.c.hosts_office.desc(), office_units.c.id)
        )
    ]


def _overdue(due: dt.date | None, done: bool, today: dt.date) -> bool:
    return due is not None and not done and due < today


def items(conn: Connection, *, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Every work item at a glance: units, due date, status, progress, what is late and whose it is."""
    today = today or _today()
    names = _units(conn)
    ms: dict[int, list[Any]] = defaultdict(list)
    for m in conn.execute(
        select(office_milestones).order_by(office_milestones.c.item_number, office_milestones.c.seq)
    ):
        ms[m.item_number].append(m)
    acts: dict[int, list[Any]] = defaultdict(list)
    for a in conn.execute(select(office_actions).where(office_actions.c.status == "open")):
        acts[a.item_number].append(a)
    last = dict(
        conn.execute(
            select(office_updates.c.item_number, func.max(office_updates.c.created_at)).group_by(
                office_updates.c.item_number
            )
        ).all()
    )
    out = []
    for r in conn.execute(select(office_items).order_by(office_items.c.number)):
        co = [u for u in r.co_units.split(",") if u]
        late: list[dict[str, Any]] = []
        if _overdue(r.due, r.status == "done", today):
            late.append({"what": "item", "title": r.title, "due": r.due, "unit": r.lead_unit})
        for m in ms[r.number]:
            if _overdue(m.due, m.done_on is not None, today):
                late.append({"what": "milestone", "title": m.title, "due": m.due, "unit": r.lead_unit})
        for a in acts[r.number]:
            if _overdue(a.due, False, today):
                late.append({"what": "action", "title": a.decision, "due": a.due, "unit": a.owner_unit})
        late_units = sorted({x["unit"] for x in late})
        out.append(
            {
                "number": r.number,
                "section": r.section,
                "title": r.title,
                "lead_unit": r.lead_unit,
                "lead_name": names.get(r.lead_unit, r.lead_unit),
                "co_units": co,
                "co_names": [names.get(u, u) for u in co],
                "due": r.due,
                "status": r.status,
                "progress_ppm": r.progress_ppm,
                "milestones_done": sum(m.done_on is not None for m in ms[r.number]),
                "milestones": len(ms[r.number]),
                "open_actions": len(acts[r.number]),
                "late": late,
                "late_units": late_units,
                "late_names": [names.get(u, u) for u in late_units],
                "last_update_at": last.get(r.number),
            }
        )
    return out


def item(conn: Connection, number: int, *, today: dt.date | None = None) -> dict[str, Any]:
    """One work item with its text, milestones, updates (newest first) and actions."""
    found = next((i for i in items(conn, today=today) if i["number"] == number), None)
    if found is None:
        raise NotFound(f"没有第 {number} 项工作 / no work item {number}", param="item")
    row = conn.execute(select(office_items).where(office_items.c.number == number)).one()
    names = _units(conn)
    found["text"] = row.text
    found["milestone_rows"] = [
        dict(m._mapping)
        for m in conn.execute(
            select(office_milestones)
            .where(office_milestones.c.item_number == number)
            .order_by(office_milestones.c.seq)
        )
    ]
    atts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    ups = [
        dict(u._mapping)
        for u in conn.execute(
            select(office_updates)
            .where(office_updates.c.item_number == number)
            .order_by(office_updates.c.created_at.desc())
            .limit(LIST_MAX)
        )
    ]
    if ups:
        for a in conn.execute(
            select(
                office_attachments.c.update_id,
                office_attachments.c.seq,
                office_attachments.c.filename,
                office_attachments.c.size_bytes,
            ).where(office_attachments.c.update_id.in_([u["id"] for u in ups]))
        ):
            atts[a.update_id].append({"seq": a.seq, "filename": a.filename, "size_bytes": a.size_bytes})
    for u in ups:
        u["unit_name"] = names.get(u["unit_id"], u["unit_id"])
        u["attachments"] = atts.get(u["id"], [])
    found["updates"] = ups
    found["actions"] = [
        _action(a, names)
        for a in conn.execute(
            select(office_actions)
            .where(office_actions.c.item_number == number)
            .order_by(office_actions.c.due)
        )
    ]
    return found


def figure_values(conn: Connection, keys: Sequence[str], today: dt.date | None = None) -> dict[str, int]:
    """Dashboard figures a progress update links to, as they stand now."""
    today = today or _today()
    unknown = [k for k in keys if k not in FIGURES]
    if unknown:
        raise InvalidRequest(
            f"未知指标 / unknown figure {unknown[0]!r}; one of {', '.join(FIGURES)}", param="figures"
        )
    out: dict[str, int] = {}
    circles_now = (
        circle_counts(conn, today) if {"circles_launched", "pilot_streets_launched"} & set(keys) else {}
    )
    for k in keys:
        if k == "circles_launched":
            out[k] = circles_now["circles"]
        elif k == "pilot_streets_launched":
            out[k] = circles_now["streets"]
        elif k == "trainings":
            out[k] = int(conn.execute(select(func.count()).select_from(office_trainings)).scalar_one())
        elif k == "cashiers_trained":
            out[k] = int(
                conn.execute(select(func.coalesce(func.sum(office_attendees.c.cashiers), 0))).scalar_one()
            )
        elif k == "publicity_reach":
            out[k] = int(
                conn.execute(select(func.coalesce(func.sum(office_publicity.c.reach), 0))).scalar_one()
            )
        elif k == "credit_granted_fen":
            out[k] = int(
                conn.execute(select(func.coalesce(func.sum(office_credit.c.amount_fen), 0))).scalar_one()
            )
        elif k == "merchants_active":
            from zhifu.kpi.service import active_merchants

            out[k] = active_merchants(conn, today)
    return out


class Attachment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str = Field(min_length=1, max_length=120)
    content_type: str = Field(max_length=60)
    data: bytes


class UpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=TEXT_CHARS_MAX)
    status: str = Field(max_length=12)
    progress_ppm: int = Field(ge=0, le=PPM)
    figures: list[str] = Field(default_factory=list, max_length=len(FIGURES))
    milestone: int | None = Field(
        default=None, ge=1, le=99, description="a milestone of the item this completes"
    )


def post_update(
    conn: Connection,
    actor: Actor,
    number: int,
    req: UpdateIn,
    attachments: Sequence[Attachment] = (),
    *,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """A unit reports progress on an item it leads or shares; another unit's item is refused, nothing written."""
    row = conn.execute(select(office_items).where(office_items.c.number == number)).first()
    if row is None:
        raise NotFound(f"没有第 {number} 项工作 / no work item {number}", param="item")
    if not req.text.strip():
        raise InvalidRequest("请填写进展说明 / the update needs text", param="text")
    mine = {row.lead_unit, *[u for u in row.co_units.split(",") if u]}
    if actor.unit_id not in mine:
        raise PermissionDenied(
            f"第 {number} 项工作不由本单位牵头或配合，不能更新 / work item {number} is not your "
            "unit's (neither lead nor co-responsible)",
            param="item",
        )
    if req.status not in ITEM_STATUSES:
        raise InvalidRequest(
            f"状态须为 {', '.join(ITEM_STATUSES)} / status must be one of them", param="status"
        )
    if len(attachments) > ATTACHMENTS_MAX:
        raise InvalidRequest(
            f"最多 {ATTACHMENTS_MAX} 个附件 / at most {ATTACHMENTS_MAX} attachments", param="attachments"
        )
    for i, a in enumerate(attachments):
        if not 0 < len(a.data) <= ATTACHMENT_BYTES_MAX:
            raise InvalidRequest(
                f"附件须小于 {ATTACHMENT_BYTES_MAX // 1024 // 1024} MB / attachment {i} is empty or "
                "too large",
                param=f"attachments.{i}",
            )
        if a.content_type not in ATTACHMENT_TYPES:
            raise InvalidRequest(
                f"不支持的附件类型 / attachment {i} type {a.content_type!r} is not accepted",
                param=f"attachments.{i}.content_type",
            )
    if (
        req.milestone is not None
        and conn.execute(
            select(office_milestones.c.seq).where(
                office_milestones.c.item_number == number, office_milestones.c.seq == req.milestone
            )
        ).first()
        is None
    ):
        raise InvalidRequest(
            f"第 {number} 项没有第 {req.milestone} 个节点 / no such milestone", param="milestone"
        )
    at = at or clock.now()
    progress = PPM if req.status == "done" else req.progress_ppm
    figures = figure_values(conn, req.figures, at.astimezone(SHANGHAI).date())
    uid = _new("upd")
    conn.execute(
        insert(office_updates),
        [
            {
                "id": uid,
                "item_number": number,
                "unit_id": actor.unit_id,
                "author": actor.name,
                "text": req.text.strip(),
                "status": req.status,
                "progress_ppm": progress,
                "figures": figures,
                "created_at": at,
            }
        ],
    )
    if attachments:
        conn.execute(
            insert(office_attachments),
            [
                {
                    "update_id": uid,
                    "seq": i,
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size_bytes": len(a.data),
                    "sha256": hashlib.sha256(a.data).hexdigest(),
                    "data": a.data,
                }
                for i, a in enumerate(attachments, start=1)
            ],
        )
    conn.execute(
        update(office_items)
        .where(office_items.c.number == number)
        .values(status=req.status, progress_ppm=progress, updated_at=at)
    )
    if req.milestone is not None:
        conn.execute(
            update(office_milestones)
            .where(
                office_milestones.c.item_number == number,
                office_milestones.c.seq == req.milestone,
                office_milestones.c.done_on.is_(None),
            )
            .values(done_on=at.astimezone(SHANGHAI).date())
        )
    audit.record(
        conn,
        actor.name,
        "office.update_posted",
        "work_item",
        str(number),
        {"update": uid, "unit": actor.unit_id, "status": req.status, "progress_ppm": progress},
        role="regulator",
        at=at,
    )
    return {
        "id": uid,
        "object": "work_item_update",
        "item": number,
        "unit_id": actor.unit_id,
        "status": req.status,
        "progress_ppm": progress,
        "figures": figures,
        "attachments": len(attachments),
        "created_at": at,
    }


def attachment(conn: Connection, update_id: str, seq: int) -> tuple[bytes, str, str]:
    row = conn.execute(
        select(office_attachments).where(
            office_attachments.c.update_id == update_id, office_attachments.c.seq == seq
        )
    ).first()
    if row is None:
        raise NotFound("没有这个附件 / no such attachment", param="attachment")
    return row.data, row.content_type, row.filename


def set_item(
    conn: Connection,
    actor: Actor,
    number: int,
    *,
    due: dt.date | None = None,
    milestone_title: str | None = None,
    milestone_due: dt.date | None = None,
) -> dict[str, Any]:
    """The office moves an item's due date or adds a milestone."""
    _require_office(actor)
    if conn.execute(select(office_items.c.number).where(office_items.c.number == number)).first() is None:
        raise NotFound(f"没有第 {number} 项工作 / no work item {number}", param="item")
    if due is not None:
        conn.execute(update(office_items).where(office_items.c.number == number).values(due=due))
    if milestone_title:
        if milestone_due is None:
            raise InvalidRequest("节点须有完成期限 / a milestone needs a due date", param="milestone_due")
        seq = (
            int(
                conn.execute(
                    select(func.coalesce(func.max(office_milestones.c.seq), 0)).where(
                        office_milestones.c.item_number == number
                    )
                ).scalar_one()
            )
            + 1
        )
        conn.execute(
            insert(office_milestones),
            [
                {
                    "item_number": number,
                    "seq": seq,
                    "title": milestone_title[:200],
                    "due": milestone_due,
                    "done_on": None,
                }
            ],
        )
    audit.record(
        conn,
        actor.name,
        "office.item_changed",
        "work_item",
        str(number),
        {"due": due, "milestone": milestone_title},
        role="regulator",
    )
    return item(conn, number)


# ---------------------------------------------------------------- 会商 meetings and actions


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: int = Field(ge=1, le=99)
    decision: str = Field(min_length=1, max_length=1000)
    owner: str = Field(default="", max_length=40)
    due: dt.date | None = None


class MeetingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    held_on: dt.date
    title: str = Field(min_length=1, max_length=TITLE_CHARS_MAX)
    units_present: list[str] = Field(min_length=1, max_length=20)
    problems: str = Field(min_length=1, max_length=TEXT_CHARS_MAX)
    decisions: list[DecisionIn] = Field(default_factory=list, max_length=DECISIONS_MAX)


def _action(a: Any, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": a.id,
        "meeting_id": a.meeting_id,
        "item": a.item_number,
        "decision": a.decision,
        "owner_unit": a.owner_unit,
        "owner_name": names.get(a.owner_unit, a.owner_unit),
        "due": a.due,
        "status": a.status,
        "done_note": a.done_note,
        "done_at": a.done_at,
    }


def record_meeting(conn: Connection, actor: Actor, req: MeetingIn) -> dict[str, Any]:
    """The office records a 会商: who came, the problems, and decisions that become actions with owner and date."""
    _require_office(actor)
    names = _units(conn)
    numbers = {r.number for r in conn.execute(select(office_items.c.number))}
    for i, u in enumerate(req.units_present):
        if u not in names:
            raise InvalidRequest(f"未知成员单位 / unknown unit {u!r}", param=f"units_present.{i}")
    for i, d in enumerate(req.decisions):
        if not d.decision.strip():
            raise InvalidRequest(
                f"第 {i + 1} 项决定为空 / decision {i + 1} is empty", param=f"decisions.{i}.decision"
            )
        if not d.owner.strip():
            raise InvalidRequest(
                f"第 {i + 1} 项决定未指定责任单位 / decision {i + 1} has no owner",
                param=f"decisions.{i}.owner",
            )
        if d.owner not in names:
            raise InvalidRequest(
                f"第 {i + 1} 项决定的责任单位未知 / unknown owner {d.owner!r}", param=f"decisions.{i}.owner"
            )
        if d.due is None:
            raise InvalidRequest(
                f"第 {i + 1} 项决定未写完成期限 / decision {i + 1} has no due date",
                param=f"decisions.{i}.due",
            )
        if d.due < req.held_on:
            raise InvalidRequest(
                f"第 {i + 1} 项决定的期限早于会商日期 / decision {i + 1} is due before the meeting",
                param=f"decisions.{i}.due",
            )
        if d.item not in numbers:
            raise InvalidRequest(
                f"没有第 {d.item} 项工作 / no work item {d.item}", param=f"decisions.{i}.item"
            )
    mid, now = _new("mtg"), clock.now()
    conn.execute(
        insert(office_meetings),
        [
            {
                "id": mid,
                "held_on": req.held_on,
                "title": req.title.strip(),
                "units_present": ",".join(req.units_present),
                "problems": req.problems.strip(),
                "created_by": actor.name,
                "created_at": now,
            }
        ],
    )
    if req.decisions:
        conn.execute(
            insert(office_actions),
            [
                {
                    "id": _new("act"),
                    "meeting_id": mid,
                    "item_number": d.item,
                    "decision": d.decision.strip(),
                    "owner_unit": d.owner,
                    "due": d.due,
                    "status": "open",
                    "done_note": "",
                    "done_at": None,
                }
                for d in req.decisions
            ],
        )
    audit.record(
        conn,
        actor.name,
        "office.meeting_recorded",
        "meeting",
        mid,
        {"held_on": req.held_on, "decisions": len(req.decisions)},
        role="regulator",
    )
    return meeting(conn, mid)


def meeting(conn: Connection, meeting_id: str) -> dict[str, Any]:
    r = conn.execute(select(office_meetings).where(office_meetings.c.id == meeting_id)).first()
    if r is None:
        raise NotFound("没有这次会商 / no such meeting", param="meeting")
    names = _units(conn)
    present = [u for u in r.units_present.split(",") if u]
    acts = [
        _action(a, names)
        for a in conn.execute(
            select(office_actions)
            .where(office_actions.c.meeting_id == meeting_id)
            .order_by(office_actions.c.item_number, office_actions.c.due)
        )
    ]
    return {
        "id": r.id,
        "object": "meeting",
        "held_on": r.held_on,
        "title": r.title,
        "units_present": present,
        "present_names": [names.get(u, u) for u in present],
        "problems": r.problems,
        "created_by": r.created_by,
        "created_at": r.created_at,
        "actions": acts,
    }


def meetings(conn: Connection, *, limit: int = 50) -> list[dict[str, Any]]:
    ids = [
        r.id
        for r in conn.execute(
            select(office_meetings.c.id)
            .order_by(office_meetings.c.held_on.desc(), office_meetings.c.id.desc())
            .limit(min(limit, LIST_MAX))
        )
    ]
    return [meeting(conn, i) for i in ids]


def actions(conn: Connection, *, unit: str | None = None, open_only: bool = False) -> list[dict[str, Any]]:
    names = _units(conn)
    q = select(office_actions).order_by(office_actions.c.due, office_actions.c.id).limit(LIST_MAX)
    if unit:
        q = q.where(office_actions.c.owner_unit == unit)
    if open_only:
        q = q.where(office_actions.c.status == "open")
    return [_action(a, names) for a in conn.execute(q)]


def complete_action(conn: Connection, actor: Actor, action_id: str, note: str) -> dict[str, Any]:
    """The owning unit (or the office) closes an action with a note of what was done."""
    a = conn.execute(select(office_actions).where(office_actions.c.id == action_id)).first()
    if a is None:
        raise NotFound("没有这项措施 / no such action", param="action")
    if not actor.is_office and actor.unit_id != a.owner_unit:
        raise PermissionDenied("这项措施不由本单位负责 / this action is not your unit's", param="action")
    if a.status == "done":
        raise ConflictError("这项措施已办结 / this action is already done", param="action")
    if not note.strip():
        raise InvalidRequest("请写明办理情况 / say what was done", param="note")
    conn.execute(
        update(office_actions)
        .where(office_actions.c.id == action_id)
        .values(status="done", done_note=note.strip()[:500], done_at=clock.now())
    )
    audit.record(
        conn,
        actor.name,
        "office.action_done",
        "office_action",
        action_id,
        {"unit": actor.unit_id},
        role="regulator",
    )
    return _action(
        conn.execute(select(office_actions).where(office_actions.c.id == action_id)).one(), _units(conn)
    )


def sweep(conn: Connection, *, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Overdue reminders for today: late items, milestones and actions, one per thing and day, to the unit
    responsible. Running it again the same day adds nothing."""
    today = today or _today()
    wanted: list[dict[str, Any]] = []
    for it in items(conn, today=today):
        for x in it["late"]:
            ref = {
                "item": f"item:{it['number']}",
                "milestone": f"ms:{it['number']}:{x['title'][:20]}",
                "action": f"act:{it['number']}:{x['title'][:20]}",
            }[x["what"]]
            wanted.append(
                {
                    "ref": ref[:40],
                    "day": today,
                    "unit_id": x["unit"],
                    "text": f"第{it['number']}项「{it['title']}」逾期：{x['title']}（期限 {x['due']}）"[:300],
                }
            )
    have = {
        r.ref for r in conn.execute(select(office_reminders.c.ref).where(office_reminders.c.day == today))
    }
    fresh, seen = [], set(have)
    for w in wanted:
        if w["ref"] not in seen:
            seen.add(w["ref"])
            fresh.append({**w, "created_at": clock.now()})
    if fresh:
        conn.execute(insert(office_reminders), fresh)
    return fresh


def reminders(
    conn: Connection, *, unit: str | None = None, day: dt.date | None = None
) -> list[dict[str, Any]]:
    day = day or _today()
    q = select(office_reminders).where(office_reminders.c.day == day).order_by(office_reminders.c.ref)
    if unit:
        q = q.where(office_reminders.c.unit_id == unit)
    return [dict(r._mapping) for r in conn.execute(q)]


# ---------------------------------------------------------------- training and publicity


class AttendeeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    merchant_id: str = Field(max_length=32)
    cashiers: int = Field(default=1, ge=1, le=100)


class TrainingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    held_on: dt.date
    town_code: str = Field(max_length=12)
    trainer: str = Field(max_length=40)
    topic: str = Field(min_length=1, max_length=200)
    attendees: list[AttendeeIn] = Field(default_factory=list, max_length=ATTENDEES_MAX)


class PublicityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    held_on: dt.date
    town_code: str | None = Field(default=None, max_length=12)
    kind: str = Field(max_length=10)
    title: str = Field(min_length=1, max_length=200)
    reach: int = Field(ge=0, le=10_000_000)


def _check_town(town: str | None, param: str) -> None:
    if town is not None and town not in {t.code for t in _county().towns}:
        raise InvalidRequest(f"未知乡镇 / unknown town {town!r}", param=param)


def _check_institution(inst: str, param: str) -> None:
    if inst not in {i.id for i in _county().institutions}:
        raise InvalidRequest(f"未知机构 / unknown institution {inst!r}", param=param)


def record_training(conn: Connection, actor: Actor, req: TrainingIn) -> dict[str, Any]:
    """A training session with the shops whose cashiers came; a shop from another town is refused."""
    from zhifu.merchants import merchant_row

    if not actor.is_office and (actor.institution is None or actor.institution != req.trainer):
        raise PermissionDenied(
            "培训由办公室或培训机构本身登记 / the office or the training institution itself records training",
            param="trainer",
        )
    _check_town(req.town_code, "town_code")
    _check_institution(req.trainer, "trainer")
    seen: set[str] = set()
    rows = []
    for i, a in enumerate(req.attendees):
        try:
            m = merchant_row(conn, a.merchant_id)
        except NotFound:
            raise InvalidRequest(
                f"第 {i + 1} 位参训者不是商户 / attendee {i + 1}: no merchant {a.merchant_id!r}",
                param=f"attendees.{i}.merchant_id",
            ) from None
        if m.town_code != req.town_code:
            raise InvalidRequest(
                f"第 {i + 1} 位参训商户不在本乡镇 / attendee {i + 1}: {a.merchant_id} is not a "
                f"merchant of town {req.town_code}",
                param=f"attendees.{i}.merchant_id",
            )
        if a.merchant_id in seen:
            raise InvalidRequest(
                f"商户重复 / {a.merchant_id} is listed twice", param=f"attendees.{i}.merchant_id"
            )
        seen.add(a.merchant_id)
        rows.append(
            {
                "merchant_id": a.merchant_id,
                "cashiers": a.cashiers,
                "town_code": m.town_code,
                "acquirer_id": m.acquirer_id,
            }
        )
    tid = _new("trn")
    conn.execute(
        insert(office_trainings),
        [
            {
                "id": tid,
                "held_on": req.held_on,
                "town_code": req.town_code,
                "trainer": req.trainer,
                "topic": req.topic.strip(),
                "created_by": actor.name,
                "created_at": clock.now(),
            }
        ],
    )
    if rows:
        conn.execute(insert(office_attendees), [{**r, "training_id": tid} for r in rows])
    audit.record(
        conn,
        actor.name,
        "office.training_recorded",
        "training",
        tid,
        {"town": req.town_code, "merchants": len(rows)},
    )
    return {
        "id": tid,
        "object": "training",
        "held_on": req.held_on,
        "town_code": req.town_code,
        "trainer": req.trainer,
        "topic": req.topic,
        "merchants": len(rows),
        "cashiers": sum(r["cashiers"] for r in rows),
    }


def record_publicity(conn: Connection, actor: Actor, req: PublicityIn) -> dict[str, Any]:
    _require_office(actor)
    _check_town(req.town_code, "town_code")
    if req.kind not in PUBLICITY_KINDS:
        raise InvalidRequest(
            f"宣传方式须为 {', '.join(PUBLICITY_KINDS)} / kind must be one of them", param="kind"
        )
    pid = _new("pub")
    conn.execute(
        insert(office_publicity),
        [
            {
                "id": pid,
                "held_on": req.held_on,
                "town_code": req.town_code,
                "kind": req.kind,
                "title": req.title.strip(),
                "reach": req.reach,
                "created_by": actor.name,
                "created_at": clock.now(),
            }
        ],
    )
    audit.record(conn, actor.name, "office.publicity_recorded", "publicity", pid, {"kind": req.kind})
    return {"id": pid, "object": "publicity", **req.model_dump()}


def trainings(conn: Connection, *, limit: int = 50) -> list[dict[str, Any]]:
    counts = {
        r.training_id: (int(r.n), int(r.c))
        for r in conn.execute(
            select(
                office_attendees.c.training_id,
                func.count().label("n"),
                func.sum(office_attendees.c.cashiers).label("c"),
            ).group_by(office_attendees.c.training_id)
        )
    }
    towns = {t.code: t.name for t in _county().towns}
    return [
        {
            "id": r.id,
            "held_on": r.held_on,
            "town_code": r.town_code,
            "town": towns.get(r.town_code, r.town_code),
            "trainer": r.trainer,
            "topic": r.topic,
            "merchants": counts.get(r.id, (0, 0))[0],
            "cashiers": counts.get(r.id, (0, 0))[1],
        }
        for r in conn.execute(
            select(office_trainings).order_by(office_trainings.c.held_on.desc()).limit(min(limit, LIST_MAX))
        )
    ]


def publicity(conn: Connection, *, limit: int = 50) -> list[dict[str, Any]]:
    return [
        dict(r._mapping)
        for r in conn.execute(
            select(office_publicity).order_by(office_publicity.c.held_on.desc()).limit(min(limit, LIST_MAX))
        )
    ]


def _smart_counts(conn: Connection, town: str, start: dt.date, end: dt.date) -> dict[str, int]:
    from zhifu.kpi.service import BANK_STANDARD, SMART_PAY, Filters, totals

    f = Filters(start, end, town)
    smart = totals(conn, f, channels=SMART_PAY)["count"]
    return {
        "count": totals(conn, f)["count"],
        "smart": smart,
        "bank_standard": totals(conn, f, channels=BANK_STANDARD)["count"],
    }


def training_figures(conn: Connection, *, today: dt.date | None = None) -> dict[str, Any]:
    """Cashiers trained by town, acquirer and merchant; publicity reach; and smart-pay adoption in each trained
    town in the 30 days before its first training against the 30 days after (from the dashboard's rollups)."""
    today = today or _today()
    towns = {t.code: t.name for t in _county().towns}
    insts = {i.id: i.name for i in _county().institutions}
    a = office_attendees.c
    by_town = {
        r.town_code: {"merchants": int(r.m), "cashiers": int(r.c)}
        for r in conn.execute(
            select(
                a.town_code,
                func.count(func.distinct(a.merchant_id)).label("m"),
                func.sum(a.cashiers).label("c"),
            ).group_by(a.town_code)
        )
    }
    by_acquirer = [
        {
            "acquirer_id": r.acquirer_id,
            "name": insts.get(r.acquirer_id, r.acquirer_id),
            "merchants": int(r.m),
            "cashiers": int(r.c),
        }
        for r in conn.execute(
            select(
                a.acquirer_id,
                func.count(func.distinct(a.merchant_id)).label("m"),
                func.sum(a.cashiers).label("c"),
            )
            .group_by(a.acquirer_id)
            .order_by(a.acquirer_id)
        )
    ]
    by_merchant = [
        {"merchant_id": r.merchant_id, "cashiers": int(r.c), "sessions": int(r.n)}
        for r in conn.execute(
            select(a.merchant_id, func.sum(a.cashiers).label("c"), func.count().label("n"))
            .group_by(a.merchant_id)
            .order_by(func.sum(a.cashiers).desc(), a.merchant_id)
            .limit(50)
        )
    ]
    t = office_trainings.c
    firsts = dict(conn.execute(select(t.town_code, func.min(t.held_on)).group_by(t.town_code)).all())
    sessions = dict(conn.execute(select(t.town_code, func.count()).group_by(t.town_code)).all())
    p = office_publicity.c
    reach_town = {
        k: int(v) for k, v in conn.execute(select(p.town_code, func.sum(p.reach)).group_by(p.town_code))
    }
    reach_kind = {k: int(v) for k, v in conn.execute(select(p.kind, func.sum(p.reach)).group_by(p.kind))}
    w = dt.timedelta(days=ADOPTION_WINDOW_DAYS)
    rows = []
    for code in sorted(set(firsts) | {k for k in reach_town if k}):
        first = firsts.get(code)
        row: dict[str, Any] = {
            "town_code": code,
            "name": towns.get(code, code),
            "sessions": int(sessions.get(code, 0)),
            "first_training": first,
            **by_town.get(code, {"merchants": 0, "cashiers": 0}),
            "reach": reach_town.get(code, 0),
            "before": None,
            "after": None,
        }
        if first is not None:
            row["before"] = _smart_counts(conn, code, first - w, first - dt.timedelta(days=1))
            after_end = min(first + w - dt.timedelta(days=1), today)
            row["after"] = _smart_counts(conn, code, first, after_end) if after_end >= first else None
            row["after_days"] = (after_end - first).days + 1 if after_end >= first else 0
        rows.append(row)
    return {
        "trainings": int(conn.execute(select(func.count()).select_from(office_trainings)).scalar_one()),
        "cashiers": sum(v["cashiers"] for v in by_town.values()),
        "merchants": int(conn.execute(select(func.count(func.distinct(a.merchant_id)))).scalar_one()),
        "publicity_events": int(
            conn.execute(select(func.count()).select_from(office_publicity)).scalar_one()
        ),
        "reach": sum(reach_kind.values()),
        "reach_by_kind": reach_kind,
        "towns": rows,
        "by_acquirer": by_acquirer,
        "by_merchant": by_merchant,
        "window_days": ADOPTION_WINDOW_DAYS,
    }


# ---------------------------------------------------------------- commerce circles and pilot streets


class CircleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9_]+$", max_length=40)
    name: str = Field(min_length=1, max_length=60)
    kind: str = Field(default="circle", max_length=8)
    town_code: str = Field(max_length=12)
    lead_institution: str = Field(max_length=40)
    area: str = Field(default="", max_length=200)
    launch_date: dt.date | None = None
    end_date: dt.date | None = None


def _period_overlaps(a0: dt.date | None, a1: dt.date | None, b0: dt.date | None, b1: dt.date | None) -> bool:
    """Two launch periods overlap; an unlaunched circle has no period yet."""
    if a0 is None or b0 is None:
        return False
    return a0 <= (b1 or dt.date.max) and b0 <= (a1 or dt.date.max)


def _check_circle_period(
    conn: Connection, cid: str, town: str, area: str, name: str, launch: dt.date | None, end: dt.date | None
) -> None:
    if end is not None and (launch is None or end < launch):
        raise InvalidRequest("结束日期须在启用日期之后 / end_date must follow launch_date", param="end_date")
    for o in conn.execute(
        select(office_circles).where(office_circles.c.town_code == town, office_circles.c.id != cid)
    ):
        same_place = o.name == name or (area and o.area == area)
        if same_place and _period_overlaps(launch, end, o.launch_date, o.end_date):
            raise ConflictError(
                f"同一区域已有启用期重叠的商贸圈 {o.name}（{o.launch_date} 起）/ circle {o.id} covers the "
                "same area over an overlapping period",
                param="launch_date",
            )
    members = [
        r.merchant_id
        for r in conn.execute(
            select(office_circle_merchants.c.merchant_id).where(office_circle_merchants.c.circle_id == cid)
        )
    ]
    if members:
        _check_members_free(conn, cid, members, launch, end)


def _check_members_free(
    conn: Connection, cid: str, merchant_ids: Sequence[str], launch: dt.date | None, end: dt.date | None
) -> None:
    """A shop belongs to one circle at a time: refuse a member of another circle whose period overlaps."""
    m, c = office_circle_merchants.c, office_circles.c
    rows = conn.execute(
        select(m.merchant_id, c.id, c.name, c.launch_date, c.end_date)
        .select_from(office_circle_merchants.join(office_circles, c.id == m.circle_id))
        .where(m.merchant_id.in_(list(merchant_ids)), c.id != cid)
    )
    for r in rows:
        if _period_overlaps(launch, end, r.launch_date, r.end_date):
            i = list(merchant_ids).index(r.merchant_id)
            raise ConflictError(
                f"商户 {r.merchant_id} 已属于同期的商贸圈 {r.name} / merchant already in circle {r.id} "
                "over an overlapping period",
                param=f"merchant_ids.{i}",
            )


def save_circle(conn: Connection, actor: Actor, req: CircleIn) -> dict[str, Any]:
    """Create a circle or street, or change one (name, lead, area, launch and end dates)."""
    _require_office(actor)
    if req.kind not in CIRCLE_KINDS:
        raise InvalidRequest(
            "类型须为 circle（商贸圈）或 street（样板街）/ kind is circle or street", param="kind"
        )
    _check_town(req.town_code, "town_code")
    _check_institution(req.lead_institution, "lead_institution")
    _check_circle_period(
        conn, req.id, req.town_code, req.area.strip(), req.name.strip(), req.launch_date, req.end_date
    )
    values = {
        "name": req.name.strip(),
        "kind": req.kind,
        "town_code": req.town_code,
        "lead_institution": req.lead_institution,
        "area": req.area.strip(),
        "launch_date": req.launch_date,
        "end_date": req.end_date,
    }
    if conn.execute(select(office_circles.c.id).where(office_circles.c.id == req.id)).first():
        conn.execute(update(office_circles).where(office_circles.c.id == req.id).values(**values))
    else:
        conn.execute(insert(office_circles), [{"id": req.id, **values, "created_at": clock.now()}])
    audit.record(
        conn,
        actor.name,
        "office.circle_saved",
        "commerce_circle",
        req.id,
        {"launch_date": req.launch_date, "end_date": req.end_date},
    )
    return circle(conn, req.id)


def launch_circle(conn: Connection, actor: Actor, circle_id: str, launch_date: dt.date) -> dict[str, Any]:
    c = circle(conn, circle_id)
    return save_circle(
        conn,
        actor,
        CircleIn(
            id=circle_id,
            name=c["name"],
            kind=c["kind"],
            town_code=c["town_code"],
            lead_institution=c["lead_institution"],
            area=c["area"],
            launch_date=launch_date,
            end_date=c["end_date"],
        ),
    )


def add_circle_merchants(
    conn: Connection,
    actor: Actor,
    circle_id: str,
    merchant_ids: Sequence[str] = (),
    *,
    by_address: bool = False,
) -> dict[str, Any]:
    """Add shops picked on a list, or every active shop of the circle's town whose address names its area."""
    from zhifu.merchants import list_merchants, merchant_row

    _require_office(actor)
    c = circle(conn, circle_id)
    picked = list(dict.fromkeys(merchant_ids))
    if by_address:
        if not c["area"]:
            raise InvalidRequest(
                "该商贸圈未填写区域，无法按地址匹配 / the circle has no area to match addresses", param="area"
            )
        after = None
        while len(picked) < CIRCLE_MERCHANTS_MAX:
            page, more = list_merchants(
                conn, status="active", town_code=c["town_code"], limit=100, starting_after=after
            )
            picked += [
                m["id"] for m in page if c["area"] in (m.get("address") or "") and m["id"] not in picked
            ]
            if not more or not page:
                break
            after = page[-1]["id"]
    for i, mid in enumerate(picked):
        try:
            row = merchant_row(conn, mid)
        except NotFound:
            raise InvalidRequest(f"没有商户 {mid} / no merchant {mid!r}", param=f"merchant_ids.{i}") from None
        if row.town_code != c["town_code"]:
            raise InvalidRequest(
                f"商户 {mid} 不在该商贸圈所在乡镇 / merchant {mid} is not in the circle's town",
                param=f"merchant_ids.{i}",
            )
    have = {
        r.merchant_id
        for r in conn.execute(
            select(office_circle_merchants.c.merchant_id).where(
                office_circle_merchants.c.circle_id == circle_id
            )
        )
    }
    fresh = [m for m in picked if m not in have]
    if len(have) + len(fresh) > CIRCLE_MERCHANTS_MAX:
        raise InvalidRequest(
            f"一个商贸圈至多 {CIRCLE_MERCHANTS_MAX} 户 / at most {CIRCLE_MERCHANTS_MAX} merchants",
            param="merchant_ids",
        )
    _check_members_free(conn, circle_id, fresh, c["launch_date"] or dt.date.min, c["end_date"])
    if fresh:
        now = clock.now()
        conn.execute(
            insert(office_circle_merchants),
            [{"merchant_id": m, "circle_id": circle_id, "added_at": now} for m in fresh],
        )
    audit.record(
        conn, actor.name, "office.circle_merchants_added", "commerce_circle", circle_id, {"added": len(fresh)}
    )
    return {**circle(conn, circle_id), "added": len(fresh)}


def circle(conn: Connection, circle_id: str) -> dict[str, Any]:
    r = conn.execute(select(office_circles).where(office_circles.c.id == circle_id)).first()
    if r is None:
        raise NotFound(f"没有商贸圈 {circle_id} / no commerce circle {circle_id!r}", param="circle")
    n = conn.execute(
        select(func.count()).where(office_circle_merchants.c.circle_id == circle_id)
    ).scalar_one()
    return {
        "id": r.id,
        "object": "commerce_circle",
        "name": r.name,
        "kind": r.kind,
        "town_code": r.town_code,
        "lead_institution": r.lead_institution,
        "area": r.area,
        "launch_date": r.launch_date,
        "end_date": r.end_date,
        "merchants": int(n),
    }


def _circle_payments(
    conn: Connection, merchant_ids: Sequence[str], start: dt.date, end: dt.date
) -> list[Any]:
    """Succeeded payments of a circle's shops per merchant and channel over start..end (Beijing dates): the
    office's one read of the payments table (its public export), bounded by the circle's size and the window."""
    from zhifu.payments.read import payments_view

    p = payments_view.c
    lo = dt.datetime.combine(start, dt.time(), SHANGHAI)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), SHANGHAI)
    return list(
        conn.execute(
            select(p.merchant_id, p.channel, func.count().label("n"))
            .where(
                p.merchant_id.in_(list(merchant_ids)),
                p.status.in_(("succeeded", "partially_refunded", "refunded")),
                p.created_at >= lo,
                p.created_at < hi,
            )
            .group_by(p.merchant_id, p.channel)
        )
    )


def circles(conn: Connection, *, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Every circle and street with its members, coverage (members taking smart pay in the last 30 days) and
    bank-standard share of its smart-pay payments, and whether it launched by the pilot deadline."""
    from zhifu.kpi.service import BANK_STANDARD, SMART_PAY

    today = today or _today()
    towns = {t.code: t.name for t in _county().towns}
    insts = {i.id: i.name for i in _county().institutions}
    members: dict[str, list[str]] = defaultdict(list)
    for r in conn.execute(select(office_circle_merchants)):
        members[r.circle_id].append(r.merchant_id)
    deadline = pilot_deadline(conn)
    out = []
    for r in conn.execute(
        select(office_circles).order_by(
            office_circles.c.launch_date.is_(None), office_circles.c.launch_date, office_circles.c.id
        )
    ):
        mids = members.get(r.id, [])
        smart = bank = 0
        active: set[str] = set()
        if mids:
            for row in _circle_payments(conn, mids, today - dt.timedelta(days=CIRCLE_WINDOW_DAYS - 1), today):
                if row.channel in SMART_PAY:
                    smart += int(row.n)
                    active.add(row.merchant_id)
                    if row.channel in BANK_STANDARD:
                        bank += int(row.n)
        live = (
            r.launch_date is not None
            and r.launch_date <= today
            and (r.end_date is None or r.end_date >= today)
        )
        out.append(
            {
                "id": r.id,
                "name": r.name,
                "kind": r.kind,
                "town_code": r.town_code,
                "town": towns.get(r.town_code, r.town_code),
                "lead_institution": r.lead_institution,
                "lead_name": insts.get(r.lead_institution, r.lead_institution),
                "area": r.area,
                "launch_date": r.launch_date,
                "end_date": r.end_date,
                "live": live,
                "merchants": len(mids),
                "covered": len(active),
                "coverage_ppm": len(active) * PPM // len(mids) if mids else None,
                "smart_payments": smart,
                "bank_standard_ppm": bank * PPM // smart if smart else None,
                "on_time": r.launch_date is not None and deadline is not None and r.launch_date <= deadline,
            }
        )
    return out


def pilot_deadline(conn: Connection) -> dt.date | None:
    """The pilot period's end: the deadline of the county's commerce-circle target."""
    from zhifu.county.read import earliest_deadline

    return earliest_deadline(conn, "commerce_circles")


def circle_counts(conn: Connection, as_of: dt.date) -> dict[str, int]:
    """Circles and pilot streets launched on or before as_of (and not ended before it)."""
    c = office_circles.c
    rows = conn.execute(
        select(c.kind, func.count())
        .where(
            c.launch_date.is_not(None), c.launch_date <= as_of, or_(c.end_date.is_(None), c.end_date >= as_of)
        )
        .group_by(c.kind)
    ).all()
    got = {k: int(n) for k, n in rows}
    return {"circles": got.get("circle", 0) + got.get("street", 0), "streets": got.get("street", 0)}


# ---------------------------------------------------------------- data for credit, under the merchant's consent


def _lender(lender: str) -> str:
    lender = lender.strip()
    if lender not in {i.id for i in _county().institutions if {"acquirer", "issuer"} & set(i.roles)}:
        raise InvalidRequest(
            f"贷款机构须为本县银行 / the lender must be one of the county's banks, not {lender!r}",
            param="lender",
        )
    return lender


def _evidence_body(
    doc: dict[str, Any], merchant: dict[str, Any], lender: str, months: int, at: dt.datetime
) -> dict[str, Any]:
    """Monthly takings, regularity, refund rate and tenure from the consent-gated turnover."""
    rows = doc["months"]
    total = sum(m["amount_fen"] for m in rows)
    refunded = sum(m["refunded_fen"] for m in rows)
    active_months = sum(1 for m in rows if m["count"] > 0)
    amounts = [m["amount_fen"] for m in rows] + [0] * max(0, months - len(rows))
    mean = sum(amounts) // len(amounts) if amounts else 0
    spread = (sum(abs(a - mean) for a in amounts) // len(amounts)) if amounts else 0
    since = merchant.get("activated_at") or merchant.get("created_at")
    tenure = (at.date() - since.date()).days if since is not None else 0
    return {
        "object": "credit_evidence",
        "merchant_id": merchant["id"],
        "merchant_name": merchant["legal_name"],
        "town_code": merchant["town_code"],
        "lender": lender,
        "consent": doc["consent"],
        "months_asked": months,
        "monthly": rows,
        "takings_fen": total,
        "average_month_fen": mean,
        "regularity_ppm": active_months * PPM // months if months else 0,
        "variation_ppm": spread * PPM // mean if mean else None,
        "refund_rate_ppm": refunded * PPM // total if total else 0,
        "tenure_days": max(tenure, 0),
        "issued_at": at.isoformat(),
        "truncated": doc["truncated"],
    }


def credit_evidence(
    db: Database,
    merchant_id: str,
    lender: str,
    *,
    months: int = EVIDENCE_MONTHS_DEFAULT,
    channel: str = "api",
    actor: str = "",
) -> dict[str, Any]:
    """Turnover evidence for a lender through the consent capability's gate (no consent, or withdrawn: refused
    and the refusal audited there, nothing disclosed); each disclosure is signed, kept and audited."""
    from zhifu.consent import turnover_evidence
    from zhifu.merchants import get_merchant

    lender = _lender(lender)
    doc = turnover_evidence(db, merchant_id, lender, months)
    at = clock.now()
    with db.read() as c:
        merchant = get_merchant(c, merchant_id)
    body = _evidence_body(doc, merchant, lender, months, at)
    from zhifu.office import signing

    digest = audit.digest(body)
    sig = signing.sign(body)
    did = _new("dsc")

    def keep(c: Connection) -> None:
        c.execute(
            insert(office_disclosures),
            [
                {
                    "merchant_id": merchant_id,
                    "id": did,
                    "lender": lender,
                    "consent_id": doc["consent"],
                    "channel": channel,
                    "body": body,
                    "digest": digest,
                    "signature": sig,
                    "actor": actor or "api",
                    "created_at": at,
                }
            ],
        )
        audit.record(
            c,
            actor or None,
            "office.evidence_disclosed",
            "merchant",
            merchant_id,
            {"disclosure": did, "lender": lender, "channel": channel, "digest": digest},
            merchant_id=merchant_id,
        )

    db.run(keep)
    return {"id": did, "signature": sig, "key_id": signing.KEY_ID, "digest": digest, **body}


def disclosures(
    conn: Connection, *, merchant_id: str | None = None, lender: str | None = None
) -> list[dict[str, Any]]:
    d = office_disclosures.c
    q = (
        select(d.id, d.merchant_id, d.lender, d.consent_id, d.channel, d.digest, d.created_at)
        .order_by(d.created_at.desc())
        .limit(LIST_MAX)
    )
    if merchant_id:
        q = q.where(d.merchant_id == merchant_id)
    if lender:
        q = q.where(d.lender == lender)
    return [dict(r._mapping) for r in conn.execute(q)]


class CreditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    merchant_id: str = Field(max_length=32)
    disclosure_id: str = Field(max_length=32)
    amount_fen: int = Field(gt=0, le=CREDIT_FEN_MAX)
    term_months: int = Field(ge=1, le=360)
    granted_on: dt.date


def record_credit(conn: Connection, lender: str, req: CreditIn, *, actor: str) -> dict[str, Any]:
    """The lender records credit granted on evidence it received (financing supported by payment data)."""
    from zhifu.merchants import merchant_row

    lender = _lender(lender)
    d = conn.execute(
        select(office_disclosures).where(
            office_disclosures.c.merchant_id == req.merchant_id, office_disclosures.c.id == req.disclosure_id
        )
    ).first()
    if d is None or d.lender != lender:
        raise InvalidRequest(
            "须基于本机构收到的流水证明 / credit must rest on evidence disclosed to this lender",
            param="disclosure_id",
        )
    town = merchant_row(conn, req.merchant_id).town_code
    cid = _new("crd")
    conn.execute(
        insert(office_credit),
        [
            {
                "merchant_id": req.merchant_id,
                "id": cid,
                "lender": lender,
                "disclosure_id": req.disclosure_id,
                "amount_fen": req.amount_fen,
                "term_months": req.term_months,
                "granted_on": req.granted_on,
                "town_code": town,
                "actor": actor,
                "created_at": clock.now(),
            }
        ],
    )
    audit.record(
        conn,
        actor,
        "office.credit_recorded",
        "merchant",
        req.merchant_id,
        {"credit": cid, "lender": lender, "amount_fen": req.amount_fen},
        merchant_id=req.merchant_id,
    )
    return {"id": cid, "object": "credit", "lender": lender, **req.model_dump(), "town_code": town}


def credit_figures(
    conn: Connection, start: dt.date | None = None, end: dt.date | None = None
) -> dict[str, Any]:
    k = office_credit.c
    cond = and_(k.granted_on >= (start or dt.date.min), k.granted_on <= (end or dt.date.max))
    insts = {i.id: i.name for i in _county().institutions}
    towns = {t.code: t.name for t in _county().towns}
    by_lender = [
        {"lender": r.lender, "name": insts.get(r.lender, r.lender), "loans": int(r.n), "amount_fen": int(r.a)}
        for r in conn.execute(
            select(k.lender, func.count().label("n"), func.sum(k.amount_fen).label("a"))
            .where(cond)
            .group_by(k.lender)
            .order_by(k.lender)
        )
    ]
    by_town = [
        {
            "town_code": r.town_code,
            "name": towns.get(r.town_code, r.town_code),
            "loans": int(r.n),
            "amount_fen": int(r.a),
        }
        for r in conn.execute(
            select(k.town_code, func.count().label("n"), func.sum(k.amount_fen).label("a"))
            .where(cond)
            .group_by(k.town_code)
            .order_by(k.town_code)
        )
    ]
    disclosed = int(conn.execute(select(func.count()).select_from(office_disclosures)).scalar_one())
    return {
        "loans": sum(x["loans"] for x in by_lender),
        "amount_fen": sum(x["amount_fen"] for x in by_lender),
        "merchants": int(
            conn.execute(select(func.count(func.distinct(k.merchant_id))).where(cond)).scalar_one()
        ),
        "disclosures": disclosed,
        "by_lender": by_lender,
        "by_town": by_town,
    }


# ---------------------------------------------------------------- SME products (小微企业卡 / 银企通)


class SmeItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    institution: str = Field(max_length=40)
    town_code: str = Field(max_length=12)
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    product: str = Field(max_length=10)
    accounts: int = Field(ge=0, le=10_000_000)


def submit_sme(
    conn: Connection, rows: Sequence[SmeItem], *, submitted_by: str, correction: bool = False
) -> list[dict[str, Any]]:
    """Issuers' SME-product counts per town and month; a period already reported needs correction=True and
    becomes a new version."""
    if not rows or len(rows) > SME_ITEMS_MAX:
        raise InvalidRequest(f"须报送 1–{SME_ITEMS_MAX} 行 / send 1 to {SME_ITEMS_MAX} rows", param="items")
    issuers = {i.id for i in _county().institutions if "issuer" in i.roles}
    out = []
    s = office_sme_reports.c
    for i, r in enumerate(rows):
        if r.institution not in issuers:
            raise InvalidRequest(
                f"第 {i + 1} 行：未知发卡机构 / unknown issuer {r.institution!r}",
                param=f"items.{i}.institution",
            )
        _check_town(r.town_code, f"items.{i}.town_code")
        if r.product not in SME_PRODUCTS:
            raise InvalidRequest(
                f"第 {i + 1} 行：产品须为 sme_card（小微企业卡）或 yinqitong（银企通）/ unknown product",
                param=f"items.{i}.product",
            )
        current = conn.execute(
            select(func.max(s.version)).where(
                s.institution == r.institution,
                s.town_code == r.town_code,
                s.month == r.month,
                s.product == r.product,
            )
        ).scalar()
        if current is not None and not correction:
            raise ConflictError(
                f"第 {i + 1} 行：该期已报送，更正请选择更正 / period already reported; send it as a "
                "correction",
                param=f"items.{i}.month",
            )
        doc = {
            "id": _new("sme"),
            **r.model_dump(),
            "version": (current or 0) + 1,
            "submitted_by": submitted_by,
            "created_at": clock.now(),
        }
        conn.execute(insert(office_sme_reports), [doc])
        out.append(doc)
    return out


def sme_figures(conn: Connection) -> dict[str, Any]:
    """The latest version of each institution × town × product at its latest month, summed by product and town."""
    s = office_sme_reports.c
    latest: dict[tuple[str, str, str], tuple[str, int, int]] = {}
    for r in conn.execute(select(s.institution, s.town_code, s.product, s.month, s.version, s.accounts)):
        key = (r.institution, r.town_code, r.product)
        if key not in latest or (r.month, r.version) > latest[key][:2]:
            latest[key] = (r.month, r.version, int(r.accounts))
    by_product: dict[str, int] = defaultdict(int)
    by_town: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (_inst, town, product), (_m, _v, n) in latest.items():
        by_product[product] += n
        by_town[town][product] += n
    towns = {t.code: t.name for t in _county().towns}
    return {
        "by_product": dict(by_product),
        "by_town": [{"town_code": k, "name": towns.get(k, k), **v} for k, v in sorted(by_town.items())],
    }


# ---------------------------------------------------------------- the dashboard's figures


def kpi_commerce_circles(conn: Connection, as_of: dt.date) -> int | None:
    """Commerce circles (streets included) launched by as_of: the §二.7 target's measure; None before the office
    has its circles."""
    if conn.execute(select(func.count()).select_from(office_circles)).scalar_one() == 0:
        return None
    return circle_counts(conn, as_of)["circles"]


def kpi_programme_office(conn: Connection, start: dt.date, end: dt.date) -> dict[str, Any] | None:
    """What the dashboard shows of the programme office: item progress and who is late, circles and streets
    against the target, training beside adoption, credit supported by payment data, SME products."""
    if conn.execute(select(func.count()).select_from(office_items)).scalar_one() == 0:
        return None
    its = items(conn, today=end)
    counts = circle_counts(conn, end)
    deadline = pilot_deadline(conn)
    by_deadline = circle_counts(conn, deadline) if deadline else counts
    return {
        "work_items": [
            {
                "number": i["number"],
                "title": i["title"],
                "lead_name": i["lead_name"],
                "due": i["due"],
                "status": i["status"],
                "progress_ppm": i["progress_ppm"],
                "late_names": i["late_names"],
            }
            for i in its
        ],
        "items_done": sum(i["status"] == "done" for i in its),
        "items_late": sum(bool(i["late"]) for i in its),
        "progress_ppm": sum(i["progress_ppm"] for i in its) // len(its) if its else 0,
        "circles_launched": counts["circles"],
        "streets_launched": counts["streets"],
        "circles_target": CIRCLES_TARGET,
        "circles_by_deadline": by_deadline["circles"],
        "pilot_deadline": deadline,
        "training": training_figures(conn, today=end),
        "credit": credit_figures(conn, start, end),
        "sme": sme_figures(conn),
    }
