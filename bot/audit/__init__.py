"""The tamper-evident audit log: hash-chained entries and signed checkpoints (docs/audit-log.md)."""
