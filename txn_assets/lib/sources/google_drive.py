"""transactions.csv / CustomerImportance.csv in Google Drive, read with the Drive v3 API.

Each read is a ranged `files.get?alt=media` request, so a tick fetches only what the next chunk
needs; the file is never downloaded whole up front or held in memory. Transient errors (5xx, 429)
are retried by the client with exponential back-off; 404 and 403 become clear errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from txn_assets.lib.sources.base import RangedSource, SourceIdentity

SCOPES = ["https://www.googleapis.com/auth/drive.readonly"]
RETRIES = 5
_FIELDS = "id,name,size,md5Checksum,modifiedTime"


class DriveFileNotFoundError(FileNotFoundError):
    """The file id (or name in the folder) does not exist, or is not visible to the account."""


class DriveAccessDeniedError(PermissionError):
    """The account may not read the file: share it with the service account's e-mail."""


@dataclass(frozen=True)
class DriveSettings:
    """Where the file is and how to authenticate (secrets arrive through Dagster EnvVar)."""

    file: str  # a file id, or a file name when folder_id is set
    folder_id: str = ""
    # Service-account JSON content or a path to it; empty: ADC. Never in a repr, log or error.
    credentials: str = field(default="", repr=False)
    api_endpoint: str = ""  # override for a Drive-compatible test server
    token_uri: str = ""  # override of the service account's token endpoint (tests)


def _credentials(settings: DriveSettings) -> Any:
    if not settings.credentials:
        import google.auth

        credentials, _ = google.auth.default(scopes=SCOPES)
        return credentials
    from google.oauth2 import service_account

    text = settings.credentials.strip()
    info = json.loads(text if text.startswith("{") else Path(text).read_text())
    if settings.token_uri:
        info["token_uri"] = settings.token_uri
    return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)


def _drive_service(settings: DriveSettings) -> Any:
    from googleapiclient.discovery import build

    options = {"api_endpoint": settings.api_endpoint} if settings.api_endpoint else None
    return build(
        "drive",
        "v3",
        credentials=_credentials(settings),
        static_discovery=True,
        cache_discovery=False,
        client_options=options,
    )


class GoogleDriveSource(RangedSource):
    """A Drive file read by byte ranges; the file id is resolved once."""

    def __init__(self, settings: DriveSettings, service: Any = None) -> None:
        self.settings = settings
        self.service = service or _drive_service(settings)
        self._file_id: str | None = None

    def _call(self, request: Any, what: str) -> Any:
        from googleapiclient.errors import HttpError

        try:
            return request.execute(num_retries=RETRIES)
        except HttpError as err:
            status = int(err.resp.status)
            if status == 404:
                raise DriveFileNotFoundError(
                    f"Drive: {what} not found (or not shared with this account)"
                ) from err
            if status == 403:
                raise DriveAccessDeniedError(
                    f"Drive: access to {what} denied; share it with the service account"
                ) from err
            raise

    def file_id(self) -> str:
        """The id of the file, looked up by name in the folder when a folder is configured."""
        if self._file_id is None:
            if self.settings.folder_id:
                name = self.settings.file.replace("\\", "\\\\").replace("'", "\\'")
                query = f"name = '{name}' and '{self.settings.folder_id}' in parents and trashed = false"
                found = self._call(
                    self.service.files().list(q=query, fields=f"files({_FIELDS})", pageSize=10),
                    f"'{self.settings.file}' in folder {self.settings.folder_id}",
                )
                files = found.get("files", [])
                if len(files) != 1:
                    raise DriveFileNotFoundError(
                        f"Drive: expected one '{self.settings.file}' in folder {self.settings.folder_id}, found {len(files)}"
                    )
                self._file_id = str(files[0]["id"])
            else:
                self._file_id = self.settings.file
        return self._file_id

    def identity(self) -> SourceIdentity:
        meta = self._call(
            self.service.files().get(fileId=self.file_id(), fields=_FIELDS),
            f"file {self.file_id()}",
        )
        return SourceIdentity(
            name=str(meta.get("name", self.file_id())),
            size=int(meta["size"]),
            md5=str(meta.get("md5Checksum", "")),
            modified=str(meta.get("modifiedTime", "")),
        )

    def read_range(self, start: int, end: int) -> bytes:
        """Bytes [start, end); a short answer is followed by requests for the rest."""
        from googleapiclient.errors import HttpError

        pieces: list[bytes] = []
        position = start
        while position < end:
            request = self.service.files().get_media(fileId=self.file_id())
            request.headers["Range"] = f"bytes={position}-{end - 1}"
            try:
                data = self._call(request, f"file {self.file_id()}")
            except HttpError as err:
                if int(err.resp.status) == 416:  # the range starts at or past the end of the file
                    break
                raise
            if not data:
                break  # end of file
            pieces.append(data[: end - position])
            position += len(pieces[-1])
        return b"".join(pieces)
