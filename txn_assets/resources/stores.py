"""Staging and output stores as one resource: where chunks and detection files go."""

from pathlib import Path

import dagster as dg

from txn_assets.lib.stores.base import ObjectStore
from txn_assets.lib.stores.local import LocalFolderStore


class StoreResource(dg.ConfigurableResource):
    """kind 'local' uses root; kind 'azure' uses the account settings (see the README table)."""

    kind: str = "local"
    root: str = ".state/blob"
    staging_prefix: str = "staging"
    output_prefix: str = "detections"
    scratch_dir: str = ".state/scratch"
    # Azure Blob (kind 'azure'): account URL plus one credential; containers per store.
    account_url: str = ""
    account_key: str = ""
    sas_token: str = ""
    connection_string: str = ""
    staging_container: str = "staging"
    output_container: str = "output"

    def _build(self, container: str) -> ObjectStore:
        if self.kind == "local":
            return LocalFolderStore(Path(self.root))
        if self.kind == "azure":
            from txn_assets.lib.stores.azure_blob import AzureBlobStore

            return AzureBlobStore.from_settings(
                container=container,
                account_url=self.account_url,
                account_key=self.account_key,
                sas_token=self.sas_token,
                connection_string=self.connection_string,
            )
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
