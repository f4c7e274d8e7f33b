"""Incremental detection state in PostgreSQL: schema migrations and the chunk engine."""
