"""Background jobs under leases: `zhifu worker` runs them in a process of its own; two never run one at once."""

from zhifu.jobs.service import HOLDER, LEASE_TTL_S, claim, leases, release, run_leased

__all__ = ["HOLDER", "LEASE_TTL_S", "claim", "leases", "release", "run_leased"]
