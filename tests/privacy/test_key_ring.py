"""The field-encryption key ring on both backends: ciphertexts name their key, rotation re-encrypts every field
online while payments and onboarding go on, and the old key is retired (erased) only when nothing uses it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from tests.factories import application
from tests.settlement.helpers import merchant, pay, sh
from zhifu import privacy
from zhifu.core.clock import FixedClock
from zhifu.db import Database
from zhifu.merchants import MerchantApplication, apply
from zhifu.merchants.models import merchants
from zhifu.payments import ensure_platform_accounts
from zhifu.privacy import FieldKeyError
from zhifu.privacy.models import privacy_keys
from zhifu.privacy.rotation import encrypted_columns, rotate, status, usage

ENC = ("legal_person_name_enc", "legal_person_id_enc", "phone_enc", "settle_account_enc")


def _fields(db: Database) -> dict[str, dict[str, str]]:
    with db.tx() as c:
        ring = privacy.keyring(c)
        return {r.id: {k: ring.decrypt(getattr(r, k)) for k in ENC} for r in c.execute(select(merchants))}


def _versions(db: Database) -> set[int]:
    with db.tx() as c:
        return {privacy.version_of(getattr(r, k)) for r in c.execute(select(merchants)) for k in ENC}


def test_a_ciphertext_names_its_key_and_the_name_is_masked(db: Database) -> None:
    with db.tx() as c:
        m = apply(
            c,
            MerchantApplication(**application(legal_person_name="欧阳娜娜", settle_account_name="欧阳娜娜")),
        )
        row = c.execute(select(merchants).where(merchants.c.id == m["id"])).one()
        assert row.legal_person_name_enc.startswith("k1:") and "欧阳" not in row.legal_person_name_enc
        assert privacy.decrypt(row.legal_person_name_enc, c) == "欧阳娜娜"
    assert m["legal_person_name_masked"] == "***娜" and "legal_person_name" not in m
    with pytest.raises(FieldKeyError):  # a ring key lives in the database: no connection, no plaintext
        privacy.decrypt(row.legal_person_name_enc)
    legacy = privacy.encrypt("13800138000")  # no connection: version 0, derived from the secret
    assert legacy.startswith("s4g1:") and privacy.decrypt(legacy) == "13800138000"


def test_every_enc_column_is_found_for_rotation() -> None:
    found = {(t.name, c.name) for t, cols in encrypted_columns() for c in cols}
    assert {("merchants", k) for k in ENC} <= found


def test_rotation_with_payments_and_onboarding_in_flight(db: Database, fixed_clock: FixedClock) -> None:
    with db.tx() as c:
        ensure_platform_accounts(c)
    mids = [merchant(db, i, at=sh(2022, 6, 1)) for i in range(7)]
    with db.tx() as c:  # a value written without a connection (version 0) is moved onto the ring too
        c.execute(
            merchants.update()
            .where(merchants.c.id == mids[0])
            .values(phone_enc=privacy.encrypt("13900139000"))
        )
    before = _fields(db)
    assert _versions(db) == {0, 1}
    stop, errors, paid, onboarded = threading.Event(), [], [0], []

    def traffic() -> None:  # payments and new merchants while the rotation runs
        n = 0
        while not stop.is_set():
            n += 1
            try:
                pay(db, fixed_clock, mids[n % len(mids)], 100 + n, sh(2022, 6, 15, 10))
                paid[0] += 1
                if n % 3 == 0:
                    with db.tx() as c:
                        onboarded.append(
                            apply(
                                c,
                                MerchantApplication(
                                    **application(
                                        legal_name=f"沂源县南麻轮换测试店{n}",
                                        legal_person_name=f"李{n}",
                                        settle_account_name=f"李{n}",
                                    )
                                ),
                            )["id"]
                        )
            except Exception as exc:  # noqa: BLE001  (any failure of the traffic fails the test)
                errors.append(exc)
                return

    t = threading.Thread(target=traffic)
    t.start()
    seen: list[tuple[int, int]] = []
    try:
        result = rotate(
            db,
            rows_max=2,
            progress=lambda done, total: seen.append((done, total)),
            between_batches=lambda: stop.wait(0.02),
        )
    finally:
        stop.set()
        t.join(timeout=30)
    assert errors == [] and paid[0] > 0
    assert result.version == 2 and result.retired == [0, 1] and result.still_used == {}
    assert seen and seen[-1][0] == result.rows >= 7
    after = _fields(db)
    for mid, fields in before.items():
        assert after[mid] == fields  # every field decrypts to what it was
    assert _versions(db) == {2}  # nothing names the old keys
    with db.tx() as c:
        assert usage(c)[1] == 0 and usage(c)[0] == 0
        old = c.execute(select(privacy_keys).where(privacy_keys.c.version == 1)).one()
        assert old.status == "retired" and old.wrapped is None  # erased
        assert {r["version"]: r["status"] for r in status(c)} == {0: "retired", 1: "retired", 2: "active"}
    assert all(f["legal_person_name_enc"].startswith("李") for m, f in after.items() if m in onboarded)


def test_a_key_in_use_is_not_retired(db: Database) -> None:
    with db.tx() as c:
        apply(c, MerchantApplication(**application()))
    calls: list[Any] = []

    def writer_with_old_key() -> None:
        # a value written under version 1 after the pass over merchants: the retirement must see it
        with db.tx() as c:
            if calls or not c.execute(select(merchants.c.phone_enc)).scalar_one().startswith("k2:"):
                return
            calls.append(1)
            token = privacy.KeyRing((1, privacy.keyring(c).keys[1])).encrypt("13700137000")
            c.execute(merchants.update().values(phone_enc=token))

    result = rotate(db, between_batches=writer_with_old_key)
    assert result.passes == 2 and 1 in result.retired and result.still_used == {}
    assert _versions(db) == {2}


def test_a_wrong_secret_cannot_open_the_ring(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from zhifu.core.config import get_settings

    with db.tx() as c:
        apply(c, MerchantApplication(**application()))
    monkeypatch.setenv("ZHIFU_SECRET_KEY", "another-secret-of-enough-length-0123456789")
    get_settings.cache_clear()
    try:
        with pytest.raises(FieldKeyError) as exc, db.tx() as c:
            privacy.check_keys(c)
        assert "secret" in exc.value.message
    finally:
        get_settings.cache_clear()


def test_migration_encrypts_the_names_already_stored(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from sqlalchemy import MetaData, create_engine, insert

    from zhifu.db.migrate import upgrade

    url = f"sqlite:///{tmp_path}/m.db"
    upgrade(url, "0014")
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine, only=["merchants"])
    table = meta.tables["merchants"]
    now = dt.datetime.now(dt.UTC)
    row = {
        c.name: (now if c.name.endswith("_at") else "N" if c.name == "frozen" else "x")
        for c in table.columns
        if not c.nullable
    }
    row.update(id="mch_old", legal_person_name="张三丰", status="active", type="micro")
    with engine.begin() as c:
        c.execute(insert(table), [row])
    engine.dispose()
    upgrade(url)
    database = Database(url)
    with database.tx() as c:
        got = c.execute(select(merchants.c.legal_person_name_enc, merchants.c.legal_person_name_masked)).one()
        assert got.legal_person_name_enc.startswith("s4g1:") and got.legal_person_name_masked == "**丰"
        assert privacy.decrypt(got.legal_person_name_enc, c) == "张三丰"
    database.dispose()
