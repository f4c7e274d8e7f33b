"""Dagster definitions, one folder per domain; txn_assets.definitions assembles them."""
