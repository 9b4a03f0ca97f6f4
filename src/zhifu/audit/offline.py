"""审计日志离线校验 / Offline verifier for the audit log's proofs: needs Python 3.11 and `gmssl`, no database.

A regulator runs it on a proof bundle printed by `zhifu audit prove` or `zhifu audit consistency`:

    python audit_verify.py BUNDLE.json PUBLIC_KEY_HEX

It checks the checkpoints' SM2 signatures (SM3 digest, user id 1234567812345678, GB/T 32918.2) against the
public key, then the Merkle proof (RFC 9162 §2.1.3.2 inclusion, §2.1.4.2 consistency) against the signed root.
Leaves are SM3(0x00 || entry), interior nodes SM3(0x01 || left || right), as RFC 6962 does with SHA-256.
This file imports nothing from Zhifu, so the copy in docs/ is the whole verifier.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sys
from collections.abc import Callable, Sequence

Hasher = Callable[[bytes], bytes]
HASH_BYTES = 32
SM2_UID = b"1234567812345678"  # the default distinguishing identifier of GB/T 35276
CHECKPOINT_LINES_MAX = 16  # a checkpoint is a few lines; anything longer is not one


def _sm3_hashlib(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


def _sm3_gmssl(data: bytes) -> bytes:
    from gmssl import sm3

    return bytes.fromhex(sm3.sm3_hash(list(data)))


try:  # OpenSSL 1.1.1+ ships SM3; a build without it falls back to gmssl's pure-Python SM3
    hashlib.new("sm3")
    sm3: Hasher = _sm3_hashlib
except ValueError:  # pragma: no cover - depends on the OpenSSL build
    sm3 = _sm3_gmssl


class VerifyError(Exception):
    """A proof, a checkpoint or a signature that does not check."""


def leaf_hash(entry: bytes, h: Hasher = sm3) -> bytes:
    return h(b"\x00" + entry)


def node_hash(left: bytes, right: bytes, h: Hasher = sm3) -> bytes:
    return h(b"\x01" + left + right)


# ---------------------------------------------------------------- RFC 9162 verification


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], h: Hasher = sm3) -> bytes:
    """RFC 9162 §2.1.3.2: the root a leaf and its audit path imply; raises if the path cannot be one."""
    if index < 0 or size <= 0 or index >= size:
        raise VerifyError(f"index {index} is outside a tree of size {size}")
    if len(leaf) != HASH_BYTES or any(len(p) != HASH_BYTES for p in proof):
        raise VerifyError("a hash is not 32 bytes")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise VerifyError("the proof is longer than the path")
        if fn & 1 or fn == sn:
            r = node_hash(p, r, h)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p, h)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerifyError("the proof is shorter than the path")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes, h: Hasher = sm3
) -> None:
    if root_from_inclusion(index, size, leaf, proof, h) != root:
        raise VerifyError(f"entry {index} is not in the tree of size {size} with this root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes, h: Hasher = sm3
) -> None:
    """RFC 9162 §2.1.4.2: the tree of size2 and root2 extends the tree of size1 and root1."""
    if size1 < 0 or size2 < size1:
        raise VerifyError(f"size {size2} does not extend size {size1}")
    if any(len(p) != HASH_BYTES for p in proof):
        raise VerifyError("a hash is not 32 bytes")
    if size1 == size2:
        if proof or root1 != root2:
            raise VerifyError("equal sizes need equal roots and an empty proof")
        return
    if size1 == 0:
        if proof:
            raise VerifyError("an empty tree is consistent with every tree, with an empty proof")
        return
    if not proof:
        raise VerifyError("the consistency proof is empty")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: its root is the first node of the path
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerifyError("the proof is longer than the path")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr, h)
            sr = node_hash(c, sr, h)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c, h)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerifyError("the proof is shorter than the path")
    if fr != root1 or sr != root2:
        raise VerifyError(f"the tree of size {size2} does not extend the tree of size {size1}")


# ---------------------------------------------------------------- SM2 signatures (GB/T 32918.2 via gmssl)


def _sm2(public_key_hex: str, private_key_hex: str | None = None):  # type: ignore[no-untyped-def]
    from gmssl import sm2

    c = sm2.CryptSM2(private_key=private_key_hex, public_key="")
    # set after construction: gmssl 3.2.2 strips a leading "04" with str.lstrip, which also eats the first
    # digits of an X coordinate that starts with 0 or 4 (about one key in eight)
    c.public_key = public_key_hex
    return c


def normalise_public_key(public_key_hex: str) -> str:
    """128 hex digits (X || Y); a leading 04 (uncompressed point) is accepted and dropped."""
    key = public_key_hex.strip().lower()
    if len(key) == 130 and key.startswith("04"):
        key = key[2:]
    if len(key) != 128 or any(c not in "0123456789abcdef" for c in key):
        raise VerifyError("the public key is not 64 bytes of hex (X || Y)")
    return key


def key_id(public_key_hex: str) -> str:
    """The first 4 bytes of SM3 over the public key: names the key that signed a checkpoint."""
    return sm3(bytes.fromhex(normalise_public_key(public_key_hex))).hex()[:8]


def sm2_sign(private_key_hex: str, public_key_hex: str, message: bytes) -> bytes:
    """r || s, 64 bytes. The nonce comes from `secrets` (gmssl's default nonce uses `random`)."""
    c = _sm2(normalise_public_key(public_key_hex), private_key_hex)
    n = int(c.ecc_table["n"], 16)
    for _ in range(8):  # a nonce that gives r = 0 or r + k = n is retried; that is vanishingly rare
        k = secrets.randbelow(n - 1) + 1
        sig = c.sign_with_sm3(message, f"{k:064x}")
        if sig:
            return bytes.fromhex(sig)
    raise VerifyError("could not sign")


def sm2_verify(public_key_hex: str, message: bytes, signature: bytes) -> bool:
    key = normalise_public_key(public_key_hex)
    if len(signature) != 64:
        return False
    c = _sm2(key)
    n = int(c.ecc_table["n"], 16)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < n and 0 < s < n):  # gmssl does not check the range itself
        return False
    try:
        return bool(c.verify_with_sm3(signature.hex(), message))
    except Exception:  # a point off the curve or similar garbage
        return False


# ---------------------------------------------------------------- checkpoints (a signed note, as C2SP tlog-checkpoint)


class Checkpoint:
    """origin / size / base64 root / `time …` / `key …`, a blank line, then `— origin base64(r||s)`."""

    def __init__(
        self, origin: str, size: int, root: bytes, time: str, key: str, signature: bytes = b""
    ) -> None:
        self.origin, self.size, self.root, self.time, self.key, self.signature = (
            origin,
            size,
            root,
            time,
            key,
            signature,
        )

    def body(self) -> str:
        return (
            f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"
            f"time {self.time}\nkey {self.key}\n"
        )

    def text(self) -> str:
        return f"{self.body()}\n\u2014 {self.origin} {base64.b64encode(self.signature).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        body, sep, sig_part = text.partition("\n\n")
        lines = body.split("\n")
        if not sep or len(lines) != 5 or len(text) > 4096:
            raise VerifyError("not a checkpoint: expected 5 lines, a blank line and a signature line")
        origin, size_s, root_b64, time_l, key_l = lines
        sig_lines = [ln for ln in sig_part.split("\n") if ln]
        if len(sig_lines) != 1 or not sig_lines[0].startswith(f"\u2014 {origin} "):
            raise VerifyError("the checkpoint's signature line is missing or names another origin")
        if not size_s.isdigit() or not time_l.startswith("time ") or not key_l.startswith("key "):
            raise VerifyError("the checkpoint's size, time or key line is malformed")
        try:
            root = base64.b64decode(root_b64, validate=True)
            sig = base64.b64decode(sig_lines[0].rsplit(" ", 1)[1], validate=True)
        except ValueError as exc:
            raise VerifyError("the checkpoint's root or signature is not base64") from exc
        if len(root) != HASH_BYTES:
            raise VerifyError("the checkpoint's root is not 32 bytes")
        return cls(origin, int(size_s), root, time_l[5:], key_l[4:], sig)

    def verify(self, public_key_hex: str) -> None:
        if self.key != key_id(public_key_hex):
            raise VerifyError(f"the checkpoint was signed by key {self.key}, not by this public key")
        if not sm2_verify(public_key_hex, self.body().encode(), self.signature):
            raise VerifyError(f"the SM2 signature of the checkpoint of size {self.size} does not verify")


def _hashes(items: Sequence[str]) -> list[bytes]:
    try:
        return [bytes.fromhex(x) for x in items]
    except (TypeError, ValueError) as exc:
        raise VerifyError("a proof hash is not hex") from exc


def check_bundle(bundle: dict, public_key_hex: str) -> str:
    """Check a proof bundle; returns a one-line summary, raises VerifyError naming what failed."""
    kind = bundle.get("type")
    if kind == "inclusion":
        cp = Checkpoint.parse(bundle["checkpoint"])
        cp.verify(public_key_hex)
        entry = bundle["entry"].encode()
        index = int(bundle["index"])
        verify_inclusion(index, cp.size, leaf_hash(entry), _hashes(bundle["proof"]), cp.root)
        return f"OK: entry {index} is in the log of size {cp.size} signed at {cp.time}"
    if kind == "consistency":
        old, new = Checkpoint.parse(bundle["old"]), Checkpoint.parse(bundle["new"])
        old.verify(public_key_hex)
        new.verify(public_key_hex)
        if old.origin != new.origin:
            raise VerifyError("the two checkpoints are of different logs")
        verify_consistency(old.size, new.size, _hashes(bundle["proof"]), old.root, new.root)
        return f"OK: the log of size {new.size} ({new.time}) extends the log of size {old.size} ({old.time})"
    raise VerifyError("the bundle's type is neither inclusion nor consistency")


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print("usage: audit_verify.py BUNDLE.json PUBLIC_KEY_HEX(or a file holding it)", file=sys.stderr)
        return 2
    bundle_path, key = argv
    try:
        with open(bundle_path, encoding="utf-8") as f:
            bundle = json.load(f)
        if len(key) not in (128, 130):
            with open(key, encoding="utf-8") as f:
                key = f.read().strip()
        print(check_bundle(bundle, key))
        return 0
    except (VerifyError, KeyError, ValueError, OSError) as exc:
        print(f"校验失败 / FAILED: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
