"""Where transactions.csv and CustomerImportance.csv come from, and the chunk size."""

from pathlib import Path

import dagster as dg

from txn_assets.lib.sources.base import RangedSource
from txn_assets.lib.sources.local_file import LocalFileSource


class SourceResource(dg.ConfigurableResource):
    """kind 'local' reads the two paths; kind 'drive' reads Google Drive (see the README)."""

    kind: str = "local"
    transactions_path: str = ""
    importance_path: str = ""
    chunk_rows: int = 10_000
    # Google Drive (kind 'drive'): file ids, or names inside a folder.
    drive_transactions: str = ""
    drive_importance: str = ""
    drive_folder_id: str = ""
    drive_credentials: str = ""  # service-account JSON (content or path); empty: ADC
    drive_api_endpoint: str = ""  # only for tests against a local Drive-compatible server
    drive_token_uri: str = ""

    def _open(self, local_path: str, drive_name: str) -> RangedSource:
        if self.kind == "local":
            return LocalFileSource(Path(local_path))
        if self.kind == "drive":
            from txn_assets.lib.sources.google_drive import DriveSettings, GoogleDriveSource

            return GoogleDriveSource(
                DriveSettings(
                    file=drive_name,
                    folder_id=self.drive_folder_id,
                    credentials=self.drive_credentials,
                    api_endpoint=self.drive_api_endpoint,
                    token_uri=self.drive_token_uri,
                )
            )
        raise ValueError(f"unknown source kind {self.kind!r}: use 'local' or 'drive'")

    def transactions(self) -> RangedSource:
        """transactions.csv, read by byte ranges."""
        return self._open(self.transactions_path, self.drive_transactions)

    def importance(self) -> RangedSource:
        """CustomerImportance.csv (read whole, once per stream)."""
        return self._open(self.importance_path, self.drive_importance)
