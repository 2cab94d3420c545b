"""The emulator's TLS mode: a throwaway certificate authority made at start with trustme.

Clients trust it through environment variables; which variable each client path reads:

| client path | TLS library | trusts the emulator when |
| --- | --- | --- |
| openai SDK HTTP (httpx2 / httpcore2) | `ssl` | `SSL_CERT_FILE` is set (read when the client is built) |
| openai SDK realtime (`websockets`, sync and asyncio) | `ssl.create_default_context()` | `SSL_CERT_FILE` is set (OpenSSL reads it per context) |
| azure-identity `aio` (azure-core's aiohttp transport) | `ssl.create_default_context()` | `SSL_CERT_FILE` is set before `aiohttp` is imported |
| azure-identity sync, `requests` | certifi unless told | `REQUESTS_CA_BUNDLE` is set |

The file those variables name is a bundle: the emulator's CA followed by the roots trusted when it
started (the file `SSL_CERT_FILE` named then, else certifi's), so a shell that exports it can still
reach every other HTTPS site. Private keys stay in memory.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import ssl
import tempfile
from pathlib import Path

import trustme

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def _roots_trusted_now() -> bytes:
    """The roots this process trusts today: `SSL_CERT_FILE` when it names a file, else certifi's."""
    current = os.environ.get("SSL_CERT_FILE")
    if current and os.path.isfile(current):
        return Path(current).read_bytes()
    try:
        import certifi
    except ImportError:  # without certifi the bundle holds only the emulator's CA
        return b""
    return Path(certifi.where()).read_bytes()


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


class EmulatorCertificate:
    """A CA and a server certificate for the loopback names (and `host`), written as PEM files."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        if not isinstance(host, str) or not host:
            raise ValueError(f"host must be a non-empty host name or address, got {host!r}")
        names = list(LOOPBACK_NAMES)
        if host not in names and not _is_wildcard(host):
            names.append(host)
        self.names = tuple(names)
        self._ca = trustme.CA(organization_name="realtime_widgets emulator")
        self._leaf = self._ca.issue_cert(*self.names)
        self.folder = Path(tempfile.mkdtemp(prefix="realtime-emulator-tls-"))
        self.ca_file = self.folder / "emulator-ca.pem"
        self.bundle_file = self.folder / "ca-bundle.pem"
        ca_pem = self._ca.cert_pem.bytes()
        self.ca_file.write_bytes(ca_pem)
        self.bundle_file.write_bytes(ca_pem + b"\n" + _roots_trusted_now())

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._leaf.configure_cert(ctx)
        return ctx

    def env(self) -> dict[str, str]:
        """Variables that make Python's HTTP and WebSocket clients trust the emulator."""
        bundle = str(self.bundle_file)
        return {"SSL_CERT_FILE": bundle, "REQUESTS_CA_BUNDLE": bundle}

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
