"""SM4-GCM field encryption under a key ring with versions.

Every ciphertext names its key: `k<version>:<base64(nonce | ciphertext | tag)>`. Field keys are random, stored in
`privacy_keys` wrapped (SM4-GCM) under a key derived from ZHIFU_SECRET_KEY, so the secret alone never reads a
field and a retired key, once erased, reads nothing. The older format `s4g1:` is version 0: a key derived from
the secret itself; it still decrypts, and `zhifu keys rotate` moves it onto the ring.

A write given its transaction's connection uses the ring's active key, read in that transaction (`FOR SHARE` on
PostgreSQL, so a rotation's switch waits for writers that already chose the old key). A write without a
connection falls back to version 0, which the next rotation re-encrypts.
"""

from __future__ import annotations

import base64
import functools
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from zhifu.core import clock
from zhifu.core.config import secret
from zhifu.core.errors import ZhifuError
from zhifu.privacy.models import privacy_keys

LEGACY = "s4g1"  # version 0's prefix
_NONCE_BYTES, _TAG_BYTES, _KEY_BYTES = 12, 16, 16


class FieldKeyError(ZhifuError):
    code = "privacy_key"


@functools.lru_cache(maxsize=4)
def _derived(secret_key: str) -> tuple[bytes, bytes, bytes]:
    """(version-0 field key, blind-index key, key-wrapping key) from the secret key."""
    material = HKDF(
        algorithm=hashes.SM3(), length=32, salt=b"zhifu-privacy", info=b"sm4-gcm+sm3-hmac"
    ).derive(secret_key.encode())
    kek = HKDF(
        algorithm=hashes.SM3(), length=_KEY_BYTES, salt=b"zhifu-privacy", info=b"key-ring-wrap"
    ).derive(secret_key.encode())
    return material[:16], material[16:], kek


def _seal(key: bytes, plaintext: bytes, aad: bytes | None = None) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    if aad:
        enc.authenticate_additional_data(aad)
    ct = enc.update(plaintext) + enc.finalize()
    return nonce + ct + enc.tag


def _open(key: bytes, raw: bytes, aad: bytes | None = None) -> bytes:
    nonce, ct, tag = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:-_TAG_BYTES], raw[-_TAG_BYTES:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    if aad:
        dec.authenticate_additional_data(aad)
    return dec.update(ct) + dec.finalize()


def wrap(version: int, key: bytes) -> str:
    return base64.b64encode(_seal(_derived(secret())[2], key, f"privacy_key:{version}".encode())).decode()


@functools.lru_cache(maxsize=64)
def _unwrap(version: int, wrapped: str, secret_key: str) -> bytes:
    try:
        return _open(_derived(secret_key)[2], base64.b64decode(wrapped), f"privacy_key:{version}".encode())
    except (InvalidTag, ValueError) as exc:
        raise FieldKeyError(
            f"ZHIFU_SECRET_KEY 无法解开字段密钥 v{version}：密钥不是建库时的那一个？/ the secret key does not "
            f"open field key v{version}: is it the secret this database was made with?"
        ) from exc


def version_of(token: str) -> int:
    prefix, _, _ = token.partition(":")
    if prefix == LEGACY:
        return 0
    if prefix[:1] == "k" and prefix[1:].isdigit():
        return int(prefix[1:])
    raise ValueError("unknown ciphertext version")


def prefix_of(version: int) -> str:
    return f"{LEGACY}:" if version == 0 else f"k{version}:"


@dataclass
class KeyRing:
    """The keys of one database, read once: for decrypting many fields (a payout file, a rotation batch)."""

    active: tuple[int, bytes] | None
    keys: dict[int, bytes] = field(default_factory=dict)  # version -> key; retired versions are absent
    retired: frozenset[int] = frozenset()

    def encrypt(self, plaintext: str) -> str:
        version, key = self.active if self.active else (0, _derived(secret())[0])
        return prefix_of(version) + base64.b64encode(_seal(key, plaintext.encode())).decode()

    def decrypt(self, token: str) -> str:
        version = version_of(token)
        if version == 0:
            key = _derived(secret())[0]
        elif version in self.keys:
            key = self.keys[version]
        elif version in self.retired:
            raise FieldKeyError(f"field key v{version} is retired and erased; this value cannot be read")
        else:
            raise FieldKeyError(f"no field key v{version} in this database")
        try:
            return _open(key, base64.b64decode(token.partition(":")[2])).decode()
        except InvalidTag as exc:
            raise FieldKeyError(
                f"a value under field key v{version} does not decrypt: wrong secret or altered data"
            ) from exc


def _active_row(conn: Connection, *, create: bool) -> tuple[int, bytes] | None:
    q = select(privacy_keys.c.version, privacy_keys.c.wrapped).where(privacy_keys.c.status == "active")
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(read=True)  # a rotation's switch waits until this transaction has written
    row = conn.execute(q).first()
    if row is None and create:
        try:
            with conn.begin_nested():
                version = 1 + max([0, *conn.execute(select(privacy_keys.c.version)).scalars()])
                conn.execute(
                    insert(privacy_keys),
                    [
                        {
                            "version": version,
                            "status": "active",
                            "wrapped": wrap(version, os.urandom(_KEY_BYTES)),
                            "created_at": clock.now(),
                            "retired_at": None,
                        }
                    ],
                )
        except IntegrityError:  # another transaction made the first key at the same moment
            pass
        row = conn.execute(q).first()
    if row is None:
        return None
    return row.version, _unwrap(row.version, row.wrapped, secret())


def keyring(conn: Connection) -> KeyRing:
    """Every key of the database the connection reads; the active one is made on the first write."""
    keys, retired = {}, set()
    for r in conn.execute(select(privacy_keys.c.version, privacy_keys.c.status, privacy_keys.c.wrapped)):
        if r.status == "retired" or r.wrapped is None:
            retired.add(r.version)
        else:
            keys[r.version] = _unwrap(r.version, r.wrapped, secret())
    return KeyRing(_active_row(conn, create=False), keys, frozenset(retired))


def encrypt(plaintext: str, conn: Connection | None = None) -> str:
    """Encrypt a C2 field; the result is text safe to store. Give the transaction's connection to use the ring."""
    if conn is None:
        return KeyRing(None).encrypt(plaintext)
    return KeyRing(_active_row(conn, create=True)).encrypt(plaintext)


def decrypt(token: str, conn: Connection | None = None) -> str:
    """Decrypt a field; a version other than 0 needs the connection of the database that holds its key."""
    version = version_of(token)
    if version == 0:
        return KeyRing(None).decrypt(token)
    if conn is None:
        raise FieldKeyError(f"field key v{version} lives in the database: pass the connection to decrypt")
    row = conn.execute(
        select(privacy_keys.c.status, privacy_keys.c.wrapped).where(privacy_keys.c.version == version)
    ).first()
    if row is None or row.wrapped is None:
        return KeyRing(None, retired=frozenset({version} if row is not None else set())).decrypt(token)
    return KeyRing(None, {version: _unwrap(version, row.wrapped, secret())}).decrypt(token)


def blind_index(value: str) -> str:
    """A keyed SM3 digest for exact-match lookups without decrypting (not rotated: it would change every index)."""
    h = hmac.HMAC(_derived(secret())[1], hashes.SM3())
    h.update(value.encode())
    return h.finalize().hex()[:32]


def check_keys(conn: Connection) -> int:
    """Open every key the ring holds with the secret key (raises if it cannot); returns how many there are."""
    return len(keyring(conn).keys)
