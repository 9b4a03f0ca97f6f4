"""Payout files carry full account numbers (the bank needs them): written owner-only, in an owner-only folder."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

from tests.settlement.helpers import merchant, pay, sh
from zhifu.core.clock import FixedClock
from zhifu.db import Database
from zhifu.payments import ensure_platform_accounts
from zhifu.settlement import service


def test_payout_files_are_owner_only(db: Database, fixed_clock: FixedClock, tmp_path: Path) -> None:
    with db.tx() as c:
        ensure_platform_accounts(c)
    mid = merchant(db, 1)
    pay(db, fixed_clock, mid, 10_000, sh(2022, 6, 14, 9))
    out = tmp_path / "out"
    (out / "2022-06-14").mkdir(parents=True, mode=0o755)
    (out / "2022-06-14").chmod(0o755)  # an older, wider folder is narrowed
    stale = out / "2022-06-14" / "ZF20220614.csv.part"
    stale.write_bytes(b"")
    stale.chmod(0o644)  # a leftover of a crash keeps no wider mode either
    old = os.umask(0o022)
    try:
        r = service.run_settlement(
            db,
            dt.date(2022, 6, 14),
            at=service.day_end(dt.date(2022, 6, 14)) + dt.timedelta(hours=3),
            out_dir=out,
        )
    finally:
        os.umask(old)
    assert r["payout_count"] == 1
    assert stat.S_IMODE((out / "2022-06-14").stat().st_mode) == 0o700
    for path in r["files"].values():
        assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600, path
    assert b"6" in Path(r["files"]["bank"]).read_bytes()  # the full account number is there for the bank
