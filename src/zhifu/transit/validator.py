"""The validator's own logic, as it runs on the bus: decide accept or refuse from what it holds locally (the
platform's public key, the deny list and the pass list of its last sync, its clock), record the tap, and keep
taps until an upload succeeds. No network is touched by `decide`, so its time is a local computation: the
benchmark measures it against the platform's goal of 300 ms.

A stale deny list is no reason to refuse: first-ride risk is accepted (a declined fare puts the rider on the
list at the next sync); staleness is reported so the operator sees validators that have not synced."""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from zhifu.transit import tokens

DECISION_BUDGET_MS = 300  # the programme's goal for a gate decision (TfL's bar is 500 ms)
DENY_STALE_S = 60  # a deny list older than this is stale: the validator still decides, and says so
CLOCK_SLACK_S = 120  # a ride QR issued this far in the validator's future is still accepted (phone clocks)
QUEUE_MAX = (
    50_000  # taps a validator keeps while offline (days of a busy line); the oldest are never dropped:
)
# a full queue refuses new riders rather than lose a recorded tap
# Consumer pay codes by shape: UnionPay 19 digits from 62; WeChat 18 from 10–15; Alipay 16–24 from 25–30.
PAYCODE_SHAPES = (
    (re.compile(r"62[0-9]{17}"), "unionpay_qr"),
    (re.compile(r"1[0-5][0-9]{16}"), "wechat"),
    (re.compile(r"(2[5-9]|30)[0-9]{14,22}"), "alipay"),
)


def paycode_channel(code: str) -> str | None:
    for pattern, channel in PAYCODE_SHAPES:
        if pattern.fullmatch(code):
            return channel
    return None


@dataclass(frozen=True, slots=True)
class Decision:
    accept: bool
    reason: str  # ok | pass | denied | forged | expired | not_yet_valid | unreadable | queue_full
    rider_id: str | None
    medium: str | None  # qr | paycode


@dataclass
class Validator:
    """A validator's local state; `sync` replaces what the platform sends, `decide` and `tap` run offline."""

    id: str
    line_id: str | None
    key: Ed25519PublicKey
    deny: frozenset[str] = frozenset()
    passes: frozenset[str] = frozenset()
    deny_version: str = ""
    synced_at: dt.datetime | None = None
    stop_seq: int | None = None
    queue: deque[dict[str, Any]] = field(default_factory=deque)
    seq: int = 0

    @classmethod
    def from_sync(cls, doc: dict[str, Any], at: dt.datetime) -> Validator:
        v = cls(doc["validator_id"], doc.get("line_id"), tokens.load_public_key(doc["public_key"]))
        v.sync(doc, at)
        return v

    def sync(self, doc: dict[str, Any], at: dt.datetime) -> None:
        self.key = tokens.load_public_key(doc["public_key"])
        self.deny = frozenset(doc["deny"])
        self.passes = frozenset(doc.get("passes", ()))
        self.deny_version = doc["deny_version"]
        self.synced_at = at

    def stale(self, at: dt.datetime) -> bool:
        return self.synced_at is None or (at - self.synced_at).total_seconds() > DENY_STALE_S

    def decide(self, credential: str, at: dt.datetime) -> Decision:
        """Accept or refuse a presented code, from local state only."""
        if len(self.queue) >= QUEUE_MAX:
            return Decision(False, "queue_full", None, None)
        if credential.startswith(tokens.RIDE_PREFIX + "."):
            fields = tokens.verify(self.key, credential)
            if fields is None or len(fields) != 4 or fields[0] != tokens.RIDE_PREFIX:
                return Decision(False, "forged", None, "qr")
            rider_id = fields[1]
            try:
                issued, expires = int(fields[2]), int(fields[3])
            except ValueError:
                return Decision(False, "forged", rider_id, "qr")
            now = int(at.timestamp())
            if now > expires:
                return Decision(False, "expired", rider_id, "qr")
            if now + CLOCK_SLACK_S < issued:
                return Decision(False, "not_yet_valid", rider_id, "qr")
            medium = "qr"
        elif paycode_channel(credential) is not None:
            rider_id, medium = tokens.paycode_rider(credential), "paycode"
        else:
            return Decision(False, "unreadable", None, None)
        if rider_id in self.deny:
            return Decision(False, "denied", rider_id, medium)
        return Decision(True, "pass" if rider_id in self.passes else "ok", rider_id, medium)

    def tap(self, credential: str, at: dt.datetime, *, direction: str = "on") -> Decision:
        """Decide and record the tap for upload (refusals too: the operator sees them)."""
        d = self.decide(credential, at)
        if d.reason != "queue_full":
            self.seq += 1
            self.queue.append(
                {
                    "id": f"{self.seq:010d}",
                    "credential": credential,
                    "tapped_at": at.isoformat(),
                    "direction": direction,
                    "stop_seq": self.stop_seq,
                    "decision": "accept" if d.accept else "refuse",
                }
            )
        return d

    def batch(self, size_max: int) -> list[dict[str, Any]]:
        """The oldest taps to upload; they leave the queue only when `uploaded` confirms them."""
        return [self.queue[i] for i in range(min(size_max, len(self.queue)))]

    def uploaded(self, n: int) -> None:
        for _ in range(n):
            self.queue.popleft()
