"""Backups: a consistent copy of the database while it runs (SQLite's online backup API; pg_dump on PostgreSQL),
and a restore that checks the restored copy with the ledger's verify before it is used."""

from zhifu.backup.service import BackupResult, backup, restore, verify_copy

__all__ = ["BackupResult", "backup", "restore", "verify_copy"]
