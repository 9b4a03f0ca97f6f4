"""回测 / Backtest: replay a rule set over stored successes and measure each rule and typology against labels.

Labels (from the simulator) are read only here, after the replay: the rules never see them. A subject (merchant
or payer) counts once per rule: a rule's hit on a subject labelled with the rule's typology is a true positive.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Any

from sqlalchemy import Connection, select

from zhifu.db import Database
from zhifu.risk.features import FeatureEngine
from zhifu.risk.models import risk_labels
from zhifu.risk.rules import RuleSet
from zhifu.risk.service import SCAN_BATCH_MAX, _events, evaluate, merchant_infos

LABELLED_TYPOLOGIES = ("cashout", "secondary_clearing", "paofen", "split", "dormant", "spike")


@dataclasses.dataclass
class Score:
    hits: int = 0  # alerts (rule × subject × day)
    flagged: set[tuple[str, str]] = dataclasses.field(default_factory=set)  # subjects
    true_pos: int = 0
    positives: int = 0

    @property
    def precision_ppm(self) -> int | None:
        return self.true_pos * 1_000_000 // len(self.flagged) if self.flagged else None

    @property
    def recall_ppm(self) -> int | None:
        return self.true_pos * 1_000_000 // self.positives if self.positives else None


@dataclasses.dataclass
class Backtest:
    payments: int
    alerts: int
    live_alerts: int
    by_rule: dict[str, Score]
    by_typology: dict[str, Score]
    shadow_rules: set[str]
    camouflage_flagged: dict[str, int]  # honest look-alikes flagged, by kind
    elapsed_s: float

    @property
    def alerts_per_10k(self) -> float:
        return self.live_alerts * 10_000 / self.payments if self.payments else 0.0


LABEL_NOTE_CHARS_MAX = 200  # the column's width


def add_label(conn: Connection, subject_kind: str, subject: str, typology: str, note: str = "") -> None:
    """Record a ground-truth label (the simulator's typology of a merchant or payer) for the backtest."""
    conn.execute(
        risk_labels.insert(),
        [
            {
                "subject_kind": subject_kind,
                "subject": subject,
                "typology": typology,
                "note": note[:LABEL_NOTE_CHARS_MAX],
            }
        ],
    )


def labels(conn: Connection) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for r in conn.execute(select(risk_labels)):
        out.setdefault((r.subject_kind, r.subject), set()).add(r.typology)
    return out


def run(db: Database, rs: RuleSet, *, since: dt.datetime | None = None) -> Backtest:
    """Replay every success (from `since`) through a fresh feature engine with `rs`."""
    started = time.perf_counter()
    with db.read() as conn:
        engine = FeatureEngine(rs.features(), merchant_infos(conn))
        truth = labels(conn)
    by_rule = {r.id: Score() for r in rs.rules if r.stage == "success"}
    alerts: set[tuple[str, str, str]] = set()
    live: set[tuple[str, str, str]] = set()
    n = 0
    cursor = (since, "") if since is not None else None
    while True:
        with db.read() as conn:
            batch = _events(conn, cursor, None, SCAN_BATCH_MAX)
        for e in batch:
            for h in evaluate(engine, rs, e):
                key = (h.rule.id, h.subject, e.at.date().isoformat())
                if key not in alerts:
                    alerts.add(key)
                    by_rule[h.rule.id].hits += 1
                    if not h.rule.shadow:
                        live.add(key)
                by_rule[h.rule.id].flagged.add((h.rule.subject, h.subject))
        n += len(batch)
        if len(batch) < SCAN_BATCH_MAX:
            break
        cursor = (batch[-1].at, batch[-1].payment_id)
    positives: dict[str, int] = {}
    for (_, _), typs in truth.items():
        for typology in typs:
            positives[typology] = positives.get(typology, 0) + 1
    by_typ: dict[str, Score] = {}
    camouflage: dict[str, int] = {}
    for r in rs.rules:
        if r.stage != "success":
            continue
        s = by_rule[r.id]
        s.positives = positives.get(r.typology, 0)
        s.true_pos = sum(1 for subj in s.flagged if r.typology in truth.get(subj, ()))
        if r.shadow:
            continue
        t = by_typ.setdefault(r.typology, Score(positives=positives.get(r.typology, 0)))
        t.hits += s.hits
        t.flagged |= s.flagged
    for typ, t in by_typ.items():
        t.true_pos = sum(1 for subj in t.flagged if typ in truth.get(subj, ()))
        for subj in t.flagged:
            for lab in truth.get(subj, ()):
                if lab.startswith("honest_"):
                    camouflage[lab] = camouflage.get(lab, 0) + 1
    for typ in LABELLED_TYPOLOGIES:
        by_typ.setdefault(typ, Score(positives=positives.get(typ, 0)))
    return Backtest(
        n,
        len(alerts),
        len(live),
        by_rule,
        by_typ,
        {r.id for r in rs.rules if r.shadow},
        camouflage,
        time.perf_counter() - started,
    )


def pct(ppm: int | None) -> str:
    return "—" if ppm is None else f"{ppm / 10_000:.1f} %"


def table(bt: Backtest) -> list[dict[str, Any]]:
    return [
        {
            "rule": rid,
            "shadow": rid in bt.shadow_rules,
            "hits": s.hits,
            "subjects": len(s.flagged),
            "true_pos": s.true_pos,
            "precision": pct(s.precision_ppm),
            "recall": pct(s.recall_ppm),
        }
        for rid, s in bt.by_rule.items()
    ]
