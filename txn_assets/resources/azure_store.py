"""Azure Blob Storage as the staging and output stores, through dagster-azure.

dagster-azure's `AzureBlobStorageResource` owns the credential handling. Kept apart from
`resources/stores.py` so that a deployment on the local folder never imports the Azure SDK.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any
from urllib.parse import urlparse

import dagster as dg
from dagster_azure.blob import AzureBlobStorageResource
from pydantic import PrivateAttr

from txn_assets.lib import settings
from txn_assets.lib.stores.base import ObjectStore
from txn_assets.resources.stores import StoreResource


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
