"""The log on both backends: appends, integration into tiles, proofs checked by the offline verifier, and
`verify` naming the first entry of every kind of tampering."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from sqlalchemy import delete, insert, select, text, update

from zhifu import audit
from zhifu.audit import merkle, offline, service
from zhifu.audit.models import audit_checkpoints, audit_log, audit_queue, audit_state, audit_tiles
from zhifu.db import Database


def _fill(db: Database, n: int, *, start: int = 0) -> None:
    def go(c):  # type: ignore[no-untyped-def]
        for i in range(start, start + n):
            audit.record(
                c,
                "tester",
                "test.action",
                "thing",
                f"t{i}",
                {"i": i},
                role="operator",
                merchant_id="mch_A" if i % 2 else None,
            )

    db.run(go)


def test_entries_integrate_into_a_tree_with_the_reference_root(db: Database) -> None:
    _fill(db, 600)
    with db.read() as c:
        assert c.execute(select(audit_log)).first() is None  # appends wait in the queue
    assert audit.integrate_db(db) == 600
    with db.read() as c:
        bodies = [r.body for r in c.execute(select(audit_log).order_by(audit_log.c.leaf_index))]
        assert c.execute(select(audit_queue)).first() is None
        ref = merkle.MemoryTree()
        for b in bodies:
            ref.append(b.encode())
        assert service.tree_root(c, 600) == ref.root()
        assert service.tree_root(c, 257) == ref.root(257)
        cp = audit.latest_checkpoint(c)
        assert cp is not None and cp.size == 600 and cp.root == ref.root()
        levels = {r.level for r in c.execute(select(audit_tiles))}
        assert levels == {0, 1}
    body = json.loads(bodies[5])
    assert body["actor"] == "tester" and body["object"] == {"type": "thing", "id": "t5"}


def test_an_entry_is_logged_only_if_its_transaction_commits(db: Database) -> None:
    with pytest.raises(RuntimeError):

        def go(c):  # type: ignore[no-untyped-def]
            audit.record(c, "x", "test.action", "thing", "t", {})
            raise RuntimeError("the action failed")

        db.run(go)
    assert audit.integrate_db(db) == 0


def test_proofs_verify_offline_and_across_batches(db: Database) -> None:
    _fill(db, 300)
    audit.integrate_db(db, force_keep=True)
    _fill(db, 77, start=300)
    audit.integrate_db(db, force_keep=True)
    with db.read() as c:
        pub = audit.public_key(conn=c)
        for i in (0, 1, 255, 256, 299, 376):
            bundle = audit.prove(c, i)
            assert "377" in offline.check_bundle(bundle, pub)
        old = audit.prove(c, 7, size=300)
        assert "300" in offline.check_bundle(old, pub)
        cons = audit.prove_consistency(c, 300)
        assert "extends the log of size 300" in offline.check_bundle(cons, pub)
    # a changed entry, a forged checkpoint and a wrong key are each refused
    forged = dict(bundle, entry=bundle["entry"].replace("t376", "t999"))
    with pytest.raises(offline.VerifyError):
        offline.check_bundle(forged, pub)
    cp = offline.Checkpoint.parse(bundle["checkpoint"])
    cp.size += 1
    with pytest.raises(offline.VerifyError, match="signature"):
        offline.check_bundle(dict(bundle, checkpoint=cp.text()), pub)
    other_priv, other_pub = service._keypair("another secret", 1)
    with pytest.raises(offline.VerifyError, match="key"):
        offline.check_bundle(bundle, other_pub)
    # a checkpoint signed by the right key over a root that is not an extension is refused
    fake = service._sign_with(other_priv, other_pub, 377, b"\x01" * 32)
    with pytest.raises(offline.VerifyError):
        offline.check_bundle(dict(cons, new=fake.text()), other_pub)


def test_verify_passes_on_a_good_log(db: Database) -> None:
    _fill(db, 520)
    audit.integrate_db(db, force_keep=True)
    _fill(db, 10, start=520)
    audit.integrate_db(db)
    rep = audit.verify_db(db)
    assert rep.ok, rep.problems
    assert rep.entries == 530 and rep.signatures == 2 and rep.checkpoints == 1
    with db.read() as c:
        st = c.execute(select(audit_state)).one()
        assert st.verified_ok == "Y" and st.verified_size == 530


def _tamper_cases():  # type: ignore[no-untyped-def]
    def edit(c):  # type: ignore[no-untyped-def]
        c.execute(
            update(audit_log)
            .where(audit_log.c.leaf_index == 40)
            .values(body=text("replace(body, 't40', 't4x')"))
        )

    def delete_one(c):  # type: ignore[no-untyped-def]
        c.execute(delete(audit_log).where(audit_log.c.leaf_index == 40))

    def delete_last(c):  # type: ignore[no-untyped-def]
        c.execute(delete(audit_log).where(audit_log.c.leaf_index == 299))

    def insert_end(c):  # type: ignore[no-untyped-def]
        row = dict(c.execute(select(audit_log).where(audit_log.c.leaf_index == 0)).one()._mapping)
        c.execute(insert(audit_log), [dict(row, leaf_index=300)])

    def reorder(c):  # type: ignore[no-untyped-def]
        a = c.execute(select(audit_log.c.body).where(audit_log.c.leaf_index == 40)).scalar_one()
        b = c.execute(select(audit_log.c.body).where(audit_log.c.leaf_index == 41)).scalar_one()
        c.execute(update(audit_log).where(audit_log.c.leaf_index == 40).values(body=b))
        c.execute(update(audit_log).where(audit_log.c.leaf_index == 41).values(body=a))

    def rewrite_all(c):  # type: ignore[no-untyped-def]
        """An edit with every hash recomputed to match: only the signed checkpoints can tell."""
        edit(c)
        rows = [r.body for r in c.execute(select(audit_log.c.body).order_by(audit_log.c.leaf_index))]
        c.execute(delete(audit_tiles))
        t = service.Tiles(c)
        t.append(0, [offline.leaf_hash(b.encode()) for b in rows])
        t.flush()

    return [
        ("edit", edit, 40, "changed"),
        ("delete", delete_one, 40, "missing"),
        ("delete_last", delete_last, 299, "deleted"),
        ("insert", insert_end, 300, "inserted"),
        ("reorder", reorder, 40, "changed"),
        ("rewrite", rewrite_all, 0, "recomputed root"),
    ]


@pytest.mark.parametrize("case", _tamper_cases(), ids=lambda c: c[0])
def test_verify_names_the_first_bad_entry(db: Database, case) -> None:  # type: ignore[no-untyped-def]
    name, tamper, first_bad, words = case
    _fill(db, 300)
    audit.integrate_db(db, force_keep=True)
    db.run(tamper)
    rep = audit.verify_db(db)
    assert not rep.ok
    assert rep.first_bad == first_bad, rep.problems
    assert any(words in p for p in rep.problems), rep.problems


def test_verify_reports_a_forged_or_inconsistent_checkpoint(db: Database) -> None:
    _fill(db, 50)
    audit.integrate_db(db, force_keep=True)
    _fill(db, 50, start=50)
    audit.integrate_db(db, force_keep=True)

    def forge(c):  # type: ignore[no-untyped-def]
        row = c.execute(select(audit_checkpoints).where(audit_checkpoints.c.size == 50)).one()
        cp = offline.Checkpoint.parse(row.text)
        cp.root = b"\x02" * 32  # a new root under the old signature
        c.execute(
            update(audit_checkpoints)
            .where(audit_checkpoints.c.size == 50)
            .values(text=cp.text(), root=cp.root.hex())
        )

    db.run(forge)
    rep = audit.verify_db(db)
    assert not rep.ok and any("checkpoint of size 50" in p and "signature" in p for p in rep.problems)

    def resign(c):  # type: ignore[no-untyped-def]
        """Validly signed, but not consistent with the entries (a split view)."""
        priv, pub = service._keypair(service.secret(), 1)
        cp = service._sign_with(priv, pub, 50, b"\x03" * 32)
        c.execute(
            update(audit_checkpoints)
            .where(audit_checkpoints.c.size == 50)
            .values(text=cp.text(), root=cp.root.hex())
        )

    db.run(resign)
    rep = audit.verify_db(db)
    assert not rep.ok and rep.first_bad == 0 and any("recomputed root differs" in p for p in rep.problems)


def test_key_rotation_is_logged_and_old_checkpoints_still_verify(db: Database) -> None:
    _fill(db, 5)
    audit.integrate_db(db, force_keep=True)
    with db.read() as c:
        old_pub = audit.public_key(conn=c)
    new = db.run(audit.rotate_key)
    audit.integrate_db(db, force_keep=True)
    assert new["version"] == 2 and new["public_key"] != old_pub
    rep = audit.verify_db(db)
    assert rep.ok and rep.signatures == 3, rep.problems
    with db.read() as c:
        assert audit.list_entries(c, action="audit.key_rotated")["data"][0]["details"]["version"] == 2
        assert "size 6" in offline.check_bundle(audit.prove(c, 5), new["public_key"])


def test_entries_are_bounded_and_filtered(db: Database) -> None:
    from zhifu.core.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        db.run(lambda c: audit.record(c, "x", "a", "t", "1", {"blob": "x" * 9000}))
    _fill(db, 6)
    audit.integrate_db(db)
    with db.read() as c:
        page = audit.list_entries(c, merchant_id="mch_A", limit=2)
        assert [e["index"] for e in page["data"]] == [5, 3] and page["has_more"]
        assert [e["index"] for e in audit.list_entries(c, merchant_id="mch_A", before=3)["data"]] == [1]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_checkpoint_signature_verifies_with_openssl(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Interoperability: OpenSSL's own SM2 verifies a checkpoint signed through gmssl."""
    priv, pub = service._keypair("interop", 1)
    cp = service._sign_with(priv, pub, 3, b"\x04" * 32)
    spki = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200" + "04" + pub)
    (tmp_path / "pub.der").write_bytes(spki)

    def der_int(v: bytes) -> bytes:
        v = v.lstrip(b"\x00") or b"\x00"
        if v[0] & 0x80:
            v = b"\x00" + v
        return b"\x02" + bytes([len(v)]) + v

    seq = der_int(cp.signature[:32]) + der_int(cp.signature[32:])
    (tmp_path / "sig.der").write_bytes(b"\x30" + bytes([len(seq)]) + seq)
    (tmp_path / "msg").write_bytes(cp.body().encode())
    out = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            str(tmp_path / "pub.der"),
            "-in",
            str(tmp_path / "msg"),
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            "distid:1234567812345678",
            "-sigfile",
            str(tmp_path / "sig.der"),
        ],
        capture_output=True,
        text=True,
    )
    assert "Signature Verified Successfully" in out.stdout, out.stdout + out.stderr
