"""The tree and its proofs against RFC 6962's published vectors (SHA-256), then with SM3 on many shapes; the
verifier is offline.py, written from RFC 9162's verification algorithms."""

from __future__ import annotations

import hashlib

import pytest

from zhifu.audit import merkle, offline
from zhifu.audit.offline import VerifyError


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def dh(s: str) -> bytes:
    return bytes.fromhex(s)


LEAVES = [
    dh(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    dh(x)
    for x in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
# (leaf index, tree size, path) and (size1, size2, path): the published RFC 6962 vectors
INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
SOME_HASH = dh("abacaba000000000000000000000000000000000000000000060061e00123456")


def _tree(h=sha256) -> merkle.MemoryTree:
    t = merkle.MemoryTree(h)
    for leaf in LEAVES:
        t.append(leaf)
    return t


def test_roots_match_rfc6962_for_every_size() -> None:
    t = _tree()
    assert [t.root(n) for n in range(9)] == ROOTS
    c = merkle.Compact(sha256)
    assert c.root() == ROOTS[0]
    for n, leaf in enumerate(LEAVES, start=1):
        c.append_hash(offline.leaf_hash(leaf, sha256))
        assert c.root() == ROOTS[n]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_vectors_are_built_and_verified(index: int, size: int, path: list[str]) -> None:
    t = _tree()
    proof = merkle.inclusion_path(index, size, t.full, sha256)
    assert proof == [dh(p) for p in path]
    leaf = offline.leaf_hash(LEAVES[index], sha256)
    offline.verify_inclusion(index, size, leaf, proof, ROOTS[size], sha256)
    # the published corruptions: wrong index, size, leaf, root; garbage before and after; a flipped bit; cut
    probes = [
        (index - 1, size, leaf, proof, ROOTS[size]),
        (index + 1, size, leaf, proof, ROOTS[size]),
        (index ^ 2, size, leaf, proof, ROOTS[size]),
        (index, size * 2, leaf, proof, ROOTS[size]),
        (index, size // 2, leaf, proof, ROOTS[size]),
        (index, size, b"WrongLeaf", proof, ROOTS[size]),
        (index, size, leaf, proof, ROOTS[0]),
        (index, size, leaf, proof, SOME_HASH),
        (index, size, leaf, [*proof, b""], ROOTS[size]),
        (index, size, leaf, [*proof, ROOTS[size]], ROOTS[size]),
        (index, size, leaf, [b"", *proof], ROOTS[size]),
        (index, size, leaf, [ROOTS[size], *proof], ROOTS[size]),
        (index, size, leaf, proof[:-1], ROOTS[size]),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((index, size, leaf, bad, ROOTS[size]))
    if len(proof) > 1:
        probes.append((index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], ROOTS[size]))
    for p in probes:
        if p[0] == index and p[1] == size and p[2] == leaf and list(p[3]) == proof and p[4] == ROOTS[size]:
            continue  # index ^ 2 can equal index for some vectors; that probe is the proof itself
        with pytest.raises(VerifyError):
            offline.verify_inclusion(*p, h=sha256)


@pytest.mark.parametrize(("size1", "size2", "path"), CONSISTENCY)
def test_consistency_vectors_are_built_and_verified(size1: int, size2: int, path: list[str]) -> None:
    t = _tree()
    proof = merkle.consistency_path(size1, size2, t.full, sha256)
    assert proof == [dh(p) for p in path]
    r1, r2 = ROOTS[size1], ROOTS[size2]
    offline.verify_consistency(size1, size2, proof, r1, r2, sha256)
    probes = [
        (size1 - 1, size2, proof, r1, r2),
        (size1 + 1, size2, proof, r1, r2),
        (size1 ^ 2, size2, proof, r1, r2),
        (size1, size2 * 2, proof, r1, r2),
        (size1, size2 // 2, proof, r1, r2),
        (size1, size2, proof, b"WrongRoot", r2),
        (size1, size2, proof, r1, b"WrongRoot"),
        (size1, size2, proof, r2, r1),
        (size1, size2, [], r1, r2),
        (size1, size2, [*proof, b""], r1, r2),
        (size1, size2, [*proof, r1], r1, r2),
        (size1, size2, [*proof, r2], r1, r2),
        (size1, size2, [b"", *proof], r1, r2),
        (size1, size2, [r1, *proof], r1, r2),
        (size1, size2, [r2, *proof], r1, r2),
        (size1, size2, [proof[0], *proof], r1, r2),
        (size1, size2, proof[:-1], r1, r2),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((size1, size2, bad, r1, r2))
    for p in probes:
        with pytest.raises(VerifyError):
            offline.verify_consistency(*p, h=sha256)


def test_edge_cases_of_consistency() -> None:
    offline.verify_consistency(0, 5, [], ROOTS[0], ROOTS[5], sha256)
    offline.verify_consistency(3, 3, [], ROOTS[3], ROOTS[3], sha256)
    for bad in [
        (1, 0, [], ROOTS[1], ROOTS[0]),
        (3, 3, [], ROOTS[3], ROOTS[4]),
        (1, 2, [], ROOTS[1], ROOTS[2]),
        (0, 1, [ROOTS[0]], ROOTS[0], ROOTS[1]),
    ]:
        with pytest.raises(VerifyError):
            offline.verify_consistency(*bad, h=sha256)
    with pytest.raises(VerifyError):
        offline.verify_inclusion(0, 0, ROOTS[1], [], ROOTS[1], sha256)


def test_every_shape_with_sm3() -> None:
    """Every leaf of every tree up to 70 leaves proves in, every pair of sizes proves consistent."""
    t = merkle.MemoryTree()
    for i in range(70):
        t.append(f"entry {i}".encode())
    roots = [t.root(n) for n in range(71)]
    for n in range(1, 71):
        for i in range(n):
            offline.verify_inclusion(i, n, t.leaves[i], merkle.inclusion_path(i, n, t.full), roots[n])
        for m in range(0, n + 1, 3):
            offline.verify_consistency(m, n, merkle.consistency_path(m, n, t.full), roots[m], roots[n])
    assert offline.sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_sm3_fallback_agrees_with_openssl() -> None:
    """GB/T 32905 example 1 through both implementations."""
    assert offline._sm3_gmssl(b"abc") == offline._sm3_hashlib(b"abc")
    assert (
        offline._sm3_gmssl(b"abcd" * 16).hex()
        == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )


def test_the_docs_script_is_the_offline_verifier() -> None:
    """docs/audit_verify.py is what a regulator copies: it must be exactly the verifier the tests exercise."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    assert (root / "docs" / "audit_verify.py").read_text() == (
        root / "src/zhifu/audit/offline.py"
    ).read_text()
