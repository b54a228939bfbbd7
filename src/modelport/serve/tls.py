"""TLS for the server's fronts: one certificate setting, turned into what each front needs.

``TlsSettings`` names PEM files: the server's certificate (chain) and unencrypted key, and for
mutual TLS the root certificate(s) that sign client certificates. The HTTP and metrics fronts
take an ``ssl.SSLContext`` (``server_context``), the gRPC front a ``grpc.ServerCredentials``
(``grpc_credentials``); both read the same files, and ``check`` loads them once at start-up so a
wrong path, a key that does not match its certificate or an encrypted key stops the server with
one line naming the flag instead of failing every handshake later.

The command line follows Triton's gRPC flags (``--grpc-use-ssl``, ``--grpc-use-ssl-mutual``,
``--grpc-server-cert``, ``--grpc-server-key``, ``--grpc-root-cert``); Triton's HTTP front has no
TLS, so modelport's HTTP flags are the same words with ``http-`` (see docs/reliability.md).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelport.errors import ConfigError


@dataclass(frozen=True)
class TlsSettings:
    """The PEM files one front serves TLS with.

    Attributes:
        cert: the server certificate, optionally followed by its intermediate certificates.
        key: the server's private key (unencrypted PEM, as Triton reads it).
        root: certificates a client certificate must chain to; needed when ``mutual``.
        mutual: require and verify a client certificate (mutual TLS).
        flag: the command-line prefix the files came from (``--grpc``), for error messages.
    """

    cert: Path
    key: Path
    root: Path | None = None
    mutual: bool = False
    flag: str = "--tls"

    def __post_init__(self) -> None:
        if self.mutual and self.root is None:
            raise ConfigError(f"{self.flag}-use-ssl-mutual needs {self.flag}-root-cert: the "
                              "certificate(s) that sign the client certificates to accept")
        for name, path in (("server-cert", self.cert), ("server-key", self.key),
                           ("root-cert", self.root)):
            if path is not None and not path.is_file():
                raise ConfigError(f"{self.flag}-{name} {path}: no such file (a PEM file is "
                                  "expected)")

    @classmethod
    def from_flags(cls, flag: str, use_ssl: bool, mutual: bool, cert: str | None,
                   key: str | None, root: str | None) -> TlsSettings | None:
        """The settings Triton-style flags describe, or None for plaintext.

        ``--X-use-ssl-mutual`` implies ``--X-use-ssl`` (Triton's rule). Certificate flags
        without ``--X-use-ssl`` are an error: Triton ignores them, which serves plaintext to
        someone who meant to turn TLS on.

        Raises:
            ConfigError: a needed file is not given or does not exist.
        """
        if not (use_ssl or mutual):
            given = [f"{flag}-{name}" for name, value in
                     (("server-cert", cert), ("server-key", key), ("root-cert", root))
                     if value]
            if given:
                raise ConfigError(f"{', '.join(given)} given without {flag}-use-ssl true: add "
                                  f"{flag}-use-ssl true to serve TLS, or drop the certificate "
                                  "flags")
            return None
        if not cert or not key:
            raise ConfigError(f"{flag}-use-ssl needs {flag}-server-cert and "
                              f"{flag}-server-key (PEM files)")
        return cls(Path(cert), Path(key), Path(root) if root else None, mutual, flag)

    def server_context(self) -> ssl.SSLContext:
        """A server-side context: TLS 1.2 or newer, client certificates required and verified
        when ``mutual``.

        Raises:
            ConfigError: a file cannot be read as PEM, or the key does not match.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.cert, self.key, password=_no_password)
        except (ssl.SSLError, OSError, TypeError) as exc:
            raise ConfigError(f"{self.flag}-server-cert {self.cert} / {self.flag}-server-key "
                              f"{self.key}: {_reason(exc)} (expected a PEM certificate and "
                              "its unencrypted PEM key)") from None
        if self.root is not None:
            try:
                context.load_verify_locations(cafile=self.root)
            except (ssl.SSLError, OSError) as exc:
                raise ConfigError(f"{self.flag}-root-cert {self.root}: {_reason(exc)} "
                                  "(expected PEM certificates)") from None
        if self.mutual:
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def check(self) -> None:
        """Load the files once, so a bad one fails at start-up with a clear line.

        Raises:
            ConfigError: as ``server_context``.
        """
        self.server_context()

    def grpc_credentials(self) -> Any:
        """``grpc.ServerCredentials`` from the same files (after ``check``)."""
        import grpc

        root = self.root.read_bytes() if self.root is not None else None
        return grpc.ssl_server_credentials([(self.key.read_bytes(), self.cert.read_bytes())],
                                           root_certificates=root,
                                           require_client_auth=self.mutual)

    def describe(self) -> str:
        """A few words for the start-up log."""
        return "TLS, client certificates required" if self.mutual else "TLS"


def _no_password() -> bytes:
    # An encrypted key would otherwise make OpenSSL prompt on the terminal.
    raise TypeError("the key is encrypted; modelport reads unencrypted keys only")


_REASONS = {"KEY_VALUES_MISMATCH": "the key does not belong to the certificate",
            "PEM_LIB": "not readable as PEM",
            "NO_CERTIFICATE_OR_CRL_FOUND": "no certificate in the file"}


def _reason(exc: BaseException) -> str:
    """OpenSSL's reason in words, without its source-file reference."""
    if isinstance(exc, ssl.SSLError):  # no reason: OpenSSL's "PEM lib"
        reason = exc.reason or "PEM_LIB"
        return _REASONS.get(reason, reason.lower().replace("_", " "))
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)
