"""A throwaway certificate authority for the local HTTPS endpoints (``trustme``).

The CA certificate is written to a file (``.local/ca.pem``) that clients pass to verify the server:
``curl --cacert .local/ca.pem``, ``requests.post(..., verify=".local/ca.pem")``,
``ssl.create_default_context(cafile=".local/ca.pem")``. The server certificate covers ``127.0.0.1``,
``::1`` and ``localhost``. Nothing is installed into any trust store; a new CA is made for every start.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme

SERVER_NAMES = ("127.0.0.1", "localhost", "::1")


class LocalCertificateAuthority:
    """A CA and one server certificate for the loopback names."""

    def __init__(self, ca_path: Path) -> None:
        self._ca = trustme.CA(organization_name="gtpipe local cloud")
        self._server = self._ca.issue_cert(*SERVER_NAMES)
        self.ca_path = Path(ca_path)
        self.ca_path.parent.mkdir(parents=True, exist_ok=True)
        self._ca.cert_pem.write_to_path(str(self.ca_path))

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting the loopback certificate (TLS 1.2+)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._server.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client-side context that trusts this CA only."""
        return ssl.create_default_context(cafile=str(self.ca_path))
