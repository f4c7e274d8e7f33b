"""Staging and output stores as one resource: where chunks and detection files go."""

from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dagster as dg
from pydantic import PrivateAttr

from txn_assets.lib.stores.base import ObjectStore
from txn_assets.lib.stores.local import LocalFolderStore


class StoreResource(dg.ConfigurableResource):
    """kind 'local' uses root; kind 'azure' uses the account settings (see the README table)."""

    kind: str = "local"
    root: str = ".state/blob"
    staging_prefix: str = "staging"
    output_prefix: str = "detections"
    scratch_dir: str = ".state/scratch"
    # Azure Blob (kind 'azure'): account URL plus a key or a SAS token; neither means
    # DefaultAzureCredential (managed identity, az login, environment).
    account_url: str = ""
    account_key: str = ""
    sas_token: str = ""
    staging_container: str = "staging"
    output_container: str = "output"
    # On Databricks, Spark reads staged chunks natively from abfss:// instead of a local copy.
    spark_reads_abfss: bool = False

    _service: Any = PrivateAttr(default=None)

    def _blob_service(self) -> Any:
        """One BlobServiceClient per process, made by dagster-azure's AzureBlobStorageResource."""
        if self._service is None:
            from dagster_azure.blob import (
                AzureBlobStorageDefaultCredential,
                AzureBlobStorageKeyCredential,
                AzureBlobStorageResource,
                AzureBlobStorageSASTokenCredential,
            )

            credential: Any
            if self.account_key:
                credential = AzureBlobStorageKeyCredential(key=self.account_key)
            elif self.sas_token:
                credential = AzureBlobStorageSASTokenCredential(token=self.sas_token)
            else:
                credential = AzureBlobStorageDefaultCredential()
            blob = AzureBlobStorageResource(account_url=self.account_url, credential=credential)
            # The client lives as long as this resource (the run or the sensor tick).
            self._service = ExitStack().enter_context(blob.get_client())
        return self._service

    def _build(self, container: str) -> ObjectStore:
        if self.kind == "local":
            return LocalFolderStore(Path(self.root))
        if self.kind == "azure":
            from txn_assets.lib.stores.azure_blob import AzureBlobStore

            if not self.account_url:
                raise ValueError("TXN_STORE=azure needs AZURE_STORAGE_ACCOUNT_URL")
            return AzureBlobStore.for_container(self._blob_service(), container)
        raise ValueError(f"unknown store kind {self.kind!r}: use 'local' or 'azure'")

    def staging(self) -> ObjectStore:
        """Where staged chunks live (Mechanism X writes, Mechanism Y reads)."""
        return self._build(self.staging_container)

    def output(self) -> ObjectStore:
        """Where detection files go."""
        return self._build(self.output_container)

    def scratch(self) -> Path:
        """Local folder for copies Spark reads (Spark here has no Azure filesystem)."""
        return Path(self.scratch_dir)

    def spark_path(self, key: str) -> str | None:
        """An abfss:// path Spark can read natively (Databricks), or None to use a local copy."""
        if not (self.kind == "azure" and self.spark_reads_abfss):
            return None
        account = urlparse(self.account_url).netloc.split(".")[0]
        return f"abfss://{self.staging_container}@{account}.dfs.core.windows.net/{key}"
