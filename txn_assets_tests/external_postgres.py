"""A PostgreSQL server the project did not start, configured as a managed service is.

Like Azure Database for PostgreSQL: reachable only over TLS (`hostssl`, a self-signed certificate
made at test time), only with a password (scram-sha-256), as a role that is not a superuser but
may create databases. The stream gets it only through `DATABASE_URL`.

It is another build too: the distribution's PostgreSQL (Debian's `postgresql` package, which
`.ci/run` installs when missing), because the pgserver wheel's binaries have no TLS support.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from txn_assets.lib.services.postgres import (
    give_to_server,
    pg_ctl,
    start_postgres,
    stop_postgres,
)
from txn_assets_tests.system_packages import missing_system_package

ROLE = "stream_app"
# Only TLS connections from loopback, only with a password: plain TCP and the socket are refused.
PG_HBA = "hostssl all all 127.0.0.1/32 scram-sha-256\n"


@dataclass(frozen=True)
class ExternalPostgres:
    """The server, its role's credentials and its certificate (for verify-full)."""

    data_dir: Path
    bin_dir: Path
    port: int
    password: str
    certificate: Path

    def stop(self) -> None:
        """Stop the server (fast shutdown)."""
        stop_postgres(self.data_dir, bin_dir=self.bin_dir)

    def url(self, sslmode: str = "require", password: str | None = None, **options: str) -> str:
        """A libpq URL as a user would write it, the password URL-quoted."""
        secret = quote(self.password if password is None else password, safe="")
        query = "&".join(
            f"{k}={quote(v, safe='')}" for k, v in {"sslmode": sslmode, **options}.items()
        )
        return f"postgresql://{ROLE}:{secret}@127.0.0.1:{self.port}/postgres?{query}"


def distribution_bin_dir() -> Path:
    """The newest installed distribution PostgreSQL (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        missing_system_package("postgresql", "no PostgreSQL built with TLS for the external server")
    return found[-1].parent


def write_self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (also its subject alternative name) and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)  # PostgreSQL refuses a key others can read
    return cert_path, key_path


def start_external_postgres(data_dir: Path) -> ExternalPostgres:
    """Start a server, then lock it down: a password role, TLS on, only hostssl + scram-sha-256.

    Configured over the trusted loopback connection of a fresh server, then reloaded; returns
    once the locked-down server accepts its role over TLS.
    """
    bin_dir = distribution_bin_dir()
    server = start_postgres(data_dir, bin_dir=bin_dir)
    data_dir = server.data_dir
    cert, key = write_self_signed_certificate(data_dir)
    for path in (cert, key):
        give_to_server(path)
    # '@', '/' and '%' must survive every URL the project derives from DATABASE_URL.
    password = f"p@ss/{secrets.token_urlsafe(12)}%"
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                sql.Identifier(ROLE), sql.Literal(password)
            )
        )
        admin.execute("ALTER SYSTEM SET password_encryption = 'scram-sha-256'")
        admin.execute("ALTER SYSTEM SET ssl = on")
        admin.execute("ALTER SYSTEM SET ssl_cert_file = 'server.crt'")
        admin.execute("ALTER SYSTEM SET ssl_key_file = 'server.key'")
    (data_dir / "pg_hba.conf").write_text(PG_HBA)
    pg_ctl(data_dir, "reload", bin_dir=bin_dir)
    external = ExternalPostgres(data_dir, bin_dir, server.port, password, cert)
    deadline = time.monotonic() + 30
    while True:  # a reload is a signal: the server applies it a moment later
        try:
            with psycopg.connect(external.url(), connect_timeout=5) as conn:
                if conn.execute("SHOW ssl").fetchone() == ("on",):
                    return external
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)
