"""Azure Blob Storage as a store (one container), through azure-storage-blob.

Create-only puts (if-none-match: *) make a rerun or a second writer unable to clobber or
duplicate an object. A single Put Blob (or the final Put Block List for large blobs) is atomic,
so no reader ever sees a half-written chunk.
"""

from __future__ import annotations

import contextlib

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient

from txn_assets.lib.stores.base import ObjectStore


class AzureBlobStore(ObjectStore):
    """Keys are blob names in one container."""

    def __init__(self, container: ContainerClient) -> None:
        self.container = container

    @classmethod
    def for_container(cls, service: BlobServiceClient, container: str) -> AzureBlobStore:
        """The store of one container, created if missing."""
        client = service.get_container_client(container)
        with contextlib.suppress(ResourceExistsError):
            client.create_container()
        return cls(client)

    def _create(self, key: str, data: bytes) -> bool:
        try:
            # overwrite=False sends If-None-Match: * (the SDK's create-only condition).
            self.container.upload_blob(name=key, data=data, overwrite=False)
        except ResourceExistsError:
            return False
        return True

    def _get(self, key: str) -> bytes:
        try:
            return self.container.download_blob(key).readall()
        except ResourceNotFoundError:
            raise KeyError(key) from None

    def _exists(self, key: str) -> bool:
        return bool(self.container.get_blob_client(key).exists())

    def _delete(self, key: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.container.delete_blob(key)

    def _list(self, prefix: str) -> list[str]:
        start = prefix.rstrip("/") + "/" if prefix else None
        return sorted(self.container.list_blob_names(name_starts_with=start))

    def _uri(self, key: str) -> str:
        return self.container.get_blob_client(key).url
