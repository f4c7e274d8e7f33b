"""Staging and output stores: one resource class per backend, chosen per deployment.

Assets and sensors ask for a `StoreResource`; `defs/resources.py` binds either the local folder
or Azure Blob Storage (`resources/azure_store.py`, imported only by a deployment that uses it:
the Azure SDK costs every run process ~0.7 s of imports) under the same key.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import dagster as dg

from txn_assets.lib import settings
from txn_assets.lib.stores.base import ObjectStore
from txn_assets.lib.stores.local import LocalFolderStore


class StoreResource(dg.ConfigurableResource, ABC):
    """Where staged chunks and detection files live, and the scratch folder Spark reads from."""

    staging_prefix: str = settings.STAGING_PREFIX
    output_prefix: str = settings.OUTPUT_PREFIX
    scratch_dir: str

    @abstractmethod
    def staging(self) -> ObjectStore:
        """Where staged chunks live (Mechanism X writes, Mechanism Y reads)."""

    @abstractmethod
    def output(self) -> ObjectStore:
        """Where detection files go."""

    def scratch(self) -> Path:
        """Local folder for copies Spark reads when it cannot read the store itself."""
        return Path(self.scratch_dir)

    def spark_path(self, key: str) -> str | None:
        """A path Spark reads natively, or None: Spark reads a local copy of the object."""
        return None


class LocalStoreResource(StoreResource):
    """Both stores are folders under one root on local disk (the embedded default)."""

    root: str

    def staging(self) -> ObjectStore:
        return LocalFolderStore(Path(self.root))

    def output(self) -> ObjectStore:
        return LocalFolderStore(Path(self.root))
