"""A local server speaking the subset of Google Drive v3 the source uses.

It is the fake at the one network edge we cannot reach (Google's servers): files.list with a
name/parent query, files.get metadata, media downloads with Range, and the OAuth token endpoint
of the service-account flow (the JWT assertion is verified with the account's public key).
Failures can be injected: 5xx for the next N requests, short reads, 403 for chosen files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "test-access-token"


@dataclass
class DriveFile:
    id: str
    name: str
    parent: str
    content: bytes

    def metadata(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "size": str(len(self.content)),
            "md5Checksum": hashlib.md5(self.content).hexdigest(),
            "modifiedTime": "2026-11-26T00:00:00.000Z",
        }


@dataclass
class DriveState:
    files: dict[str, DriveFile] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)
    fail_next: int = 0  # answer this many requests with 503
    short_reads: bool = False  # answer ranges with at most 1,000 bytes
    public_key_pem: bytes = b""
    requests: list[str] = field(default_factory=list)
    tokens_issued: int = 0


def _verify_assertion(assertion: str, public_key_pem: bytes) -> dict[str, Any]:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    head, body, signature = assertion.split(".")
    key = serialization.load_pem_public_key(public_key_pem)
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    key.verify(
        base64.urlsafe_b64decode(pad(signature)),
        f"{head}.{body}".encode(),  # type: ignore[union-attr, call-arg]
        padding.PKCS1v15(),
        hashes.SHA256(),
    )  # type: ignore[call-arg]
    return json.loads(base64.urlsafe_b64decode(pad(body)))


class _Handler(BaseHTTPRequestHandler):
    state: DriveState

    def log_message(self, *args: Any) -> None:
        pass

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self._send(status, json.dumps({"error": {"code": status, "message": message}}).encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        if self.path != "/token" or form.get("grant_type") != [
            "urn:ietf:params:oauth:grant-type:jwt-bearer"
        ]:
            return self._error(400, "unsupported grant")
        try:
            claims = _verify_assertion(form["assertion"][0], self.state.public_key_pem)
        except Exception:
            return self._error(401, "bad assertion signature")
        if "drive.readonly" not in claims.get("scope", ""):
            return self._error(403, "scope missing")
        self.state.tokens_issued += 1
        self._send(
            200,
            json.dumps(
                {"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"}
            ).encode(),
        )

    def do_GET(self) -> None:
        self.state.requests.append(self.path)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._error(401, "no or bad token")
        if self.state.fail_next > 0:
            self.state.fail_next -= 1
            return self._error(503, "backend error")
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/drive/v3/files":
            return self._list(query.get("q", [""])[0])
        match = re.fullmatch(r"/drive/v3/files/([^/]+)", url.path)
        if not match:
            return self._error(404, "no such endpoint")
        file = self.state.files.get(match.group(1))
        if file is None:
            return self._error(404, "File not found")
        if file.id in self.state.forbidden:
            return self._error(403, "The user does not have sufficient permissions for this file.")
        if query.get("alt") == ["media"]:
            return self._media(file)
        return self._send(200, json.dumps(file.metadata()).encode())

    def _list(self, q: str) -> None:
        name = re.search(r"name = '((?:[^'\\]|\\.)*)'", q)
        parent = re.search(r"'([^']+)' in parents", q)
        found = [
            f.metadata()
            for f in self.state.files.values()
            if (not name or f.name == name.group(1).replace("\\'", "'"))
            and (not parent or f.parent == parent.group(1))
        ]
        self._send(200, json.dumps({"files": found}).encode())

    def _media(self, file: DriveFile) -> None:
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if not match:
            return self._send(200, file.content, "text/csv")
        start = int(match.group(1))
        end = min(
            int(match.group(2)) + 1 if match.group(2) else len(file.content), len(file.content)
        )
        if start >= len(file.content):
            return self._send(416, b"", headers={"Content-Range": f"bytes */{len(file.content)}"})
        if self.state.short_reads:
            end = min(end, start + 1_000)
        body = file.content[start:end]
        self._send(
            206, body, "text/csv", {"Content-Range": f"bytes {start}-{end - 1}/{len(file.content)}"}
        )


class DriveTestServer:
    """The server on a free loopback port, in a background thread."""

    def __init__(self, public_key_pem: bytes) -> None:
        self.state = DriveState(public_key_pem=public_key_pem)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def api_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/drive/v3/"

    @property
    def token_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def add(self, file_id: str, name: str, parent: str, content: bytes) -> None:
        self.state.files[file_id] = DriveFile(file_id, name, parent, content)

    def __enter__(self) -> DriveTestServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
