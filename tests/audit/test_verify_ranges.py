"""`verify` in ranges: the scan split into tile-aligned ranges (in this process or in two others) gives the
same verdict as one pass, checks checkpoints that fall inside a tile, and still names the first bad entry."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, text, update

from tests.audit.test_log import _fill
from zhifu import audit
from zhifu.audit import merkle, offline
from zhifu.audit.models import audit_log
from zhifu.db import Database


def _log(db: Database) -> None:
    start = 0
    for n in (100, 156, 300, 7):  # checkpoints inside a tile (100, 556, 563) and on its edge (256)
        _fill(db, n, start=start)
        audit.integrate_db(db, force_keep=True)
        start += n


@pytest.mark.parametrize("workers", [1, 2])
def test_ranges_agree_with_one_pass(db: Database, workers: int) -> None:
    _log(db)
    whole = audit.verify_db(db, workers=1)
    split = audit.verify_db(db, workers=workers, chunk=256)
    assert whole.ok and split.ok, whole.problems + split.problems
    assert split.entries == whole.entries == 563 and split.checkpoints == 4

    db.run(lambda c: c.execute(update(audit_log).where(audit_log.c.leaf_index == 300).values(body="{}")))
    db.run(lambda c: c.execute(update(audit_log).where(audit_log.c.leaf_index == 520).values(body="{}")))
    rep = audit.verify_db(db, workers=workers, chunk=256)
    assert rep.first_bad == 300 and rep.problems_total >= 2, rep.problems
    assert any("entry 520 was changed" in p for p in rep.problems), rep.problems


@pytest.mark.parametrize("workers", [1, 2])
def test_ranges_find_a_deleted_entry_and_a_rewritten_tile(db: Database, workers: int) -> None:
    _log(db)
    db.run(lambda c: c.execute(delete(audit_log).where(audit_log.c.leaf_index == 257)))
    rep = audit.verify_db(db, workers=workers, chunk=256)
    assert rep.first_bad == 257 and any("missing" in p for p in rep.problems), rep.problems


def test_compact_subtrees_equal_leaf_by_leaf() -> None:
    leaves = [offline.leaf_hash(str(i).encode()) for i in range(1000)]
    one = merkle.Compact()
    for leaf in leaves:
        one.append_hash(leaf)
    tiled = merkle.Compact()
    for t in range(3):
        tiled.append_subtree(merkle.hash_up(leaves[t * 256 : (t + 1) * 256]), 8)
    for leaf in leaves[768:]:
        tiled.append_hash(leaf)
    tree = merkle.MemoryTree()
    for i in range(1000):
        tree.append(str(i).encode())
    assert tiled.root() == one.root() == tree.root()
    with pytest.raises(ValueError):
        tiled.append_subtree(leaves[0], 8)  # 1000 is not a multiple of 256


def test_rows_outside_the_tree_are_inserted(db: Database) -> None:
    _fill(db, 10)
    audit.integrate_db(db, force_keep=True)
    db.run(
        lambda c: c.execute(
            text(
                "INSERT INTO audit_log (leaf_index, body, action, object_type, object_id, actor, role, at) "
                "SELECT -1, body, action, object_type, object_id, actor, role, at FROM audit_log "
                "WHERE leaf_index = 0"
            )
        )
    )
    rep = audit.verify_db(db)
    assert not rep.ok and rep.first_bad == 0 and any("inserted" in p for p in rep.problems)


def test_mangled_checkpoints_and_lost_tiles_are_reported_not_crashed_on(db: Database) -> None:
    from zhifu.audit.models import audit_checkpoints, audit_state, audit_tiles

    _fill(db, 300)
    audit.integrate_db(db, force_keep=True)
    db.run(lambda c: c.execute(update(audit_checkpoints).values(text="not a checkpoint")))
    db.run(lambda c: c.execute(update(audit_state).values(latest="zhifu-audit/x\n1\n\n")))
    db.run(lambda c: c.execute(delete(audit_tiles).where(audit_tiles.c.level == 0, audit_tiles.c.idx == 1)))
    rep = audit.verify_db(db)
    assert not rep.ok and rep.first_bad == 256, rep.problems
    assert any("checkpoint of size 300" in p for p in rep.problems)
    assert any("latest checkpoint" in p for p in rep.problems)
    with db.read() as c:
        st = audit.status(c)
    assert st["signature_ok"] is False and st["verified_ok"] is False
