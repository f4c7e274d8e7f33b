"""Where transactions.csv and CustomerImportance.csv come from: one resource class per backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import dagster as dg

from txn_assets.lib import settings
from txn_assets.lib.sources.base import RangedSource
from txn_assets.lib.sources.local_file import LocalFileSource


class SourceResource(dg.ConfigurableResource, ABC):
    """The two source files, read by byte ranges, and the size of the chunks X cuts."""

    chunk_rows: int = settings.CHUNK_ROWS

    @abstractmethod
    def transactions(self) -> RangedSource:
        """transactions.csv, read by byte ranges."""

    @abstractmethod
    def importance(self) -> RangedSource:
        """CustomerImportance.csv (read whole, once per stream)."""


class LocalFileSourceResource(SourceResource):
    """Two files on local disk (the embedded default: generated data under HOME/source)."""

    transactions_path: str
    importance_path: str

    def transactions(self) -> RangedSource:
        return LocalFileSource(Path(self.transactions_path))

    def importance(self) -> RangedSource:
        return LocalFileSource(Path(self.importance_path))


class GoogleDriveSourceResource(SourceResource):
    """Two files in Google Drive, by id or by name inside a folder (README: Google Drive)."""

    transactions_file: str = "transactions.csv"
    importance_file: str = "CustomerImportance.csv"
    folder_id: str = ""
    credentials: str = ""  # service-account JSON (content or path), from an EnvVar; empty: ADC
    api_endpoint: str = ""  # only for tests against a local Drive-compatible server
    token_uri: str = ""

    def _open(self, file: str) -> RangedSource:
        from txn_assets.lib.sources.google_drive import DriveSettings, GoogleDriveSource

        return GoogleDriveSource(
            DriveSettings(
                file=file,
                folder_id=self.folder_id,
                credentials=self.credentials,
                api_endpoint=self.api_endpoint,
                token_uri=self.token_uri,
            )
        )

    def transactions(self) -> RangedSource:
        return self._open(self.transactions_file)

    def importance(self) -> RangedSource:
        return self._open(self.importance_file)
