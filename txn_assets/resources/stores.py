"""Staging and output stores: one resource class per backend, chosen per deployment.

Assets and sensors ask for a `StoreResource`; `defs/resources.py` binds either the local folder
or Azure Blob Storage (through dagster-azure's `AzureBlobStorageResource`, which owns the
credential handling) under the same key.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dagster as dg
from dagster_azure.blob import AzureBlobStorageResource
from pydantic import PrivateAttr

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


class AzureBlobStoreResource(StoreResource):
    """Staging and output are containers of one storage account, reached through dagster-azure."""

    blob_storage: AzureBlobStorageResource
    staging_container: str = settings.STAGING_CONTAINER
    output_container: str = settings.OUTPUT_CONTAINER
    # On Databricks, Spark reads staged chunks natively from abfss:// instead of a local copy.
    spark_reads_abfss: bool = False

    _clients: ExitStack = PrivateAttr(default_factory=ExitStack)
    _service: Any = PrivateAttr(default=None)

    def _blob_service(self) -> Any:
        """One BlobServiceClient for this resource's lifetime (a run or a sensor tick)."""
        if self._service is None:
            self._service = self._clients.enter_context(self.blob_storage.get_client())
        return self._service

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._clients.close()

    def _container(self, name: str) -> ObjectStore:
        from txn_assets.lib.stores.azure_blob import AzureBlobStore

        return AzureBlobStore.for_container(self._blob_service(), name)

    def staging(self) -> ObjectStore:
        return self._container(self.staging_container)

    def output(self) -> ObjectStore:
        return self._container(self.output_container)

    def spark_path(self, key: str) -> str | None:
        if not self.spark_reads_abfss:
            return None
        account = urlparse(self.blob_storage.account_url).netloc.split(".")[0]
        return f"abfss://{self.staging_container}@{account}.dfs.core.windows.net/{key}"
