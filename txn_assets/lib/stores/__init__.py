"""Staging and output stores: one interface, a local-folder and an Azure Blob implementation."""

from txn_assets.lib.stores.base import ObjectConflictError, ObjectStore, PutOutcome

__all__ = ["ObjectConflictError", "ObjectStore", "PutOutcome"]
