"""Optional TLS: server certificates, and mutual TLS between services when a CA is given."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from estore.common.config import ConfigError


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: this process's certificate and key, and the CA that signs its peers."""

    cert_file: Path | None
    key_file: Path | None
    ca_file: Path | None

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None

    def _read(self) -> tuple[bytes, bytes, bytes | None]:
        if self.cert_file is None or self.key_file is None:
            raise ConfigError("TLS needs both ESTORE_TLS_CERT_FILE and ESTORE_TLS_KEY_FILE")
        try:
            ca = self.ca_file.read_bytes() if self.ca_file else None
            return self.cert_file.read_bytes(), self.key_file.read_bytes(), ca
        except OSError as error:
            raise ConfigError(f"cannot read a TLS file: {error}") from None

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """Server TLS; with a CA, clients must present a certificate it signed (mTLS)."""
        if not self.enabled:
            return None
        cert, key, ca = self._read()
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
        )

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        """Client TLS for service-to-service calls: trust the CA and present our certificate."""
        if not self.enabled:
            return None
        cert, key, ca = self._read()
        return grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=key, certificate_chain=cert
        )
