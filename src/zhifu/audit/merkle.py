"""RFC 6962 / RFC 9162 Merkle tree hashes and proofs, over any store that can give the hash of a full subtree.

The tree over leaves D[0:n] is RFC 6962's: the left subtree holds the largest power of two below n leaves.
Every node of that tree covers [lo, hi) with its left child a full, aligned subtree, so a store needs only
`full(height, index)`: the hash of leaves [index·2^height, (index+1)·2^height). The verifier side lives in
`offline.py`, written from the RFC's verification algorithms and not from this file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from zhifu.audit.offline import Hasher, leaf_hash, node_hash, sm3

Full = Callable[[int, int], bytes]  # (height, index) -> hash of that full subtree


def split(n: int) -> int:
    """The largest power of two strictly below n (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(lo: int, hi: int, full: Full, h: Hasher = sm3) -> bytes:
    """MTH(D[lo:hi]) for a range that is a node of the tree (lo aligned to the range's power-of-two ceiling)."""
    n = hi - lo
    if n <= 0:
        raise ValueError("empty range")
    if n & (n - 1) == 0:
        height = n.bit_length() - 1
        return full(height, lo >> height)
    k = split(n)
    return node_hash(range_hash(lo, lo + k, full, h), range_hash(lo + k, hi, full, h), h)


def root(size: int, full: Full, h: Hasher = sm3) -> bytes:
    return h(b"") if size == 0 else range_hash(0, size, full, h)


def inclusion_path(index: int, size: int, full: Full, h: Hasher = sm3) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(m, D[n]), leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a tree of size {size}")
    path: list[bytes] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = split(hi - lo)
        if m < k:
            path.append(range_hash(lo + k, hi, full, h))
            hi = lo + k
        else:
            path.append(range_hash(lo, lo + k, full, h))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def consistency_path(size1: int, size2: int, full: Full, h: Hasher = sm3) -> list[bytes]:
    """RFC 6962 §2.1.2 PROOF(m, D[n]) = SUBPROOF(m, D[0:n], true)."""
    if not 0 <= size1 <= size2:
        raise ValueError(f"size {size2} does not extend size {size1}")
    if size1 == 0 or size1 == size2:
        return []
    out: list[bytes] = []

    def sub(m: int, lo: int, hi: int, whole: bool) -> None:
        n = hi - lo
        if m == n:
            if not whole:
                out.append(range_hash(lo, hi, full, h))
            return
        k = split(n)
        if m <= k:
            sub(m, lo, lo + k, whole)
            out.append(range_hash(lo + k, hi, full, h))
        else:
            sub(m - k, lo + k, hi, False)
            out.append(range_hash(lo, lo + k, full, h))

    sub(size1, 0, size2, True)
    return out


def hash_up(hashes: Sequence[bytes], h: Hasher = sm3) -> bytes:
    """The root of a full subtree given its 2^k bottom-level hashes."""
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1], h) for i in range(0, len(level), 2)]
    return level[0]


class MemoryTree:
    """An in-memory tree of leaf hashes (tests, the offline self-check, the benchmark's reference)."""

    def __init__(self, h: Hasher = sm3) -> None:
        self.h = h
        self.leaves: list[bytes] = []

    def append(self, entry: bytes) -> None:
        self.leaves.append(leaf_hash(entry, self.h))

    def full(self, height: int, index: int) -> bytes:
        width = 1 << height
        return hash_up(self.leaves[index * width : (index + 1) * width], self.h)

    def root(self, size: int | None = None) -> bytes:
        return root(len(self.leaves) if size is None else size, self.full, self.h)


class Compact:
    """The right edge of a growing tree (one hash per set bit of the size): appends in O(1) amortised and the
    root of the tree so far, without keeping the leaves. `zhifu audit verify` streams the log through it."""

    def __init__(self, h: Hasher = sm3) -> None:
        self.h = h
        self.size = 0
        self.stack: list[bytes] = []  # hashes of full subtrees, largest first

    def append_hash(self, leaf: bytes) -> None:
        node, size = leaf, self.size
        stack = self.stack
        while size & 1:
            node = self.h(b"\x01" + stack.pop() + node)
            size >>= 1
        stack.append(node)
        self.size += 1

    def append_subtree(self, node: bytes, height: int) -> None:
        """Append a full subtree of 2^height leaves by its hash; the size must be a multiple of 2^height."""
        if self.size & ((1 << height) - 1):
            raise ValueError(f"a subtree of height {height} cannot start at {self.size}")
        size, stack = self.size >> height, self.stack
        while size & 1:
            node = self.h(b"\x01" + stack.pop() + node)
            size >>= 1
        stack.append(node)
        self.size += 1 << height

    def copy(self) -> Compact:
        other = Compact(self.h)
        other.size, other.stack = self.size, list(self.stack)
        return other

    def root(self) -> bytes:
        if not self.stack:
            return self.h(b"")
        node = self.stack[-1]
        for left in reversed(self.stack[:-1]):
            node = self.h(b"\x01" + left + node)
        return node
