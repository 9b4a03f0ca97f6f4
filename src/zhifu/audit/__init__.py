"""审计日志 / The tamper-evident audit log: an SM3 Merkle tree of canonical JSON entries with SM2-signed
checkpoints, inclusion and consistency proofs, and `verify` re-deriving it all from the entries."""

from zhifu.audit.context import RequestScope, acting, current_actor
from zhifu.audit.offline import Checkpoint, VerifyError, check_bundle
from zhifu.audit.service import (
    INTEGRATE_INTERVAL_S,
    Report,
    canonical,
    checkpoints,
    digest,
    entries_about,
    exported,
    integrate,
    integrate_db,
    latest_checkpoint,
    list_entries,
    prove,
    prove_consistency,
    public_key,
    record,
    rotate_key,
    status,
    verify,
    verify_db,
)

__all__ = [
    "INTEGRATE_INTERVAL_S",
    "Checkpoint",
    "Report",
    "RequestScope",
    "VerifyError",
    "acting",
    "canonical",
    "check_bundle",
    "checkpoints",
    "current_actor",
    "digest",
    "entries_about",
    "exported",
    "integrate",
    "integrate_db",
    "latest_checkpoint",
    "list_entries",
    "prove",
    "prove_consistency",
    "public_key",
    "record",
    "rotate_key",
    "status",
    "verify",
    "verify_db",
]
