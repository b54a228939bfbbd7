"""TlsSettings and the TLS flags: what each combination serves, and one clear line for bad files."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from support.certs import Certs, encrypted_key_pem, make_certs

from modelport.cli import build_parser
from modelport.errors import ConfigError
from modelport.serve.cli import config_from_args
from modelport.serve.config import ServerConfig
from modelport.serve.tls import TlsSettings


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA, server and client certificates."""
    return make_certs(tmp_path_factory.mktemp("certs"))


def _config(*argv: str) -> ServerConfig:
    config: ServerConfig = config_from_args(build_parser().parse_args(["serve", *argv]))
    return config


def _files(certs: Certs, front: str) -> list[str]:
    return [f"--{front}-server-cert", str(certs.server_cert),
            f"--{front}-server-key", str(certs.server_key)]


def test_plaintext_by_default() -> None:
    """No TLS flag: every front serves plaintext."""
    config = _config()
    assert (config.http_tls, config.grpc_tls, config.metrics_tls) == (None, None, None)


@pytest.mark.parametrize("front", ["http", "grpc"])
def test_use_ssl_with_files(certs: Certs, front: str) -> None:
    """--X-use-ssl with a certificate and key turns TLS on for that front only."""
    config = _config(f"--{front}-use-ssl", "true", *_files(certs, front))
    tls = getattr(config, f"{front}_tls")
    assert tls == TlsSettings(certs.server_cert, certs.server_key, None, False, f"--{front}")
    other = "grpc" if front == "http" else "http"
    assert getattr(config, f"{other}_tls") is None


@pytest.mark.parametrize("front", ["http", "grpc"])
def test_mutual_implies_use_ssl(certs: Certs, front: str) -> None:
    """--X-use-ssl-mutual alone turns TLS on and requires client certificates (Triton's rule)."""
    config = _config(f"--{front}-use-ssl-mutual", "1", *_files(certs, front),
                     f"--{front}-root-cert", str(certs.ca))
    tls = getattr(config, f"{front}_tls")
    assert tls.mutual and tls.root == certs.ca
    assert tls.server_context().verify_mode == ssl.CERT_REQUIRED


def test_server_only_tls_does_not_ask_for_client_certificates(certs: Certs) -> None:
    """Without mutual TLS the context neither asks for nor checks client certificates."""
    context = _config("--http-use-ssl", "true", *_files(certs, "http")).http_tls
    assert context is not None
    assert context.server_context().verify_mode == ssl.CERT_NONE


@pytest.mark.parametrize(("argv", "message"), [
    (["--grpc-use-ssl", "true"], "--grpc-use-ssl needs --grpc-server-cert and --grpc-server-key"),
    (["--http-use-ssl", "true", "--http-server-cert", "x.pem"],
     "--http-use-ssl needs --http-server-cert and --http-server-key"),
    (["--grpc-server-cert", "a.pem", "--grpc-server-key", "b.pem"],
     "--grpc-server-cert, --grpc-server-key given without --grpc-use-ssl true"),
    (["--metrics-use-ssl", "true"], "--metrics-use-ssl serves the HTTP front's certificate"),
])
def test_incomplete_flags_are_refused(argv: list[str], message: str) -> None:
    """Flags that would serve plaintext by surprise, or TLS without files, say what to add."""
    with pytest.raises(ConfigError, match=message):
        _config(*argv)


def test_mutual_needs_a_root_certificate(certs: Certs) -> None:
    """Mutual TLS without --X-root-cert is refused: nothing could verify a client."""
    with pytest.raises(ConfigError, match="--grpc-use-ssl-mutual needs --grpc-root-cert"):
        _config("--grpc-use-ssl-mutual", "true", *_files(certs, "grpc"))


def test_missing_file_is_named(certs: Certs, tmp_path: Path) -> None:
    """A path that does not exist is named with its flag."""
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError, match=r"--http-server-key .*nope\.pem: no such file"):
        _config("--http-use-ssl", "true", "--http-server-cert", str(certs.server_cert),
                "--http-server-key", str(missing))


def test_key_that_does_not_match_is_refused(certs: Certs) -> None:
    """A key from another pair fails at start-up with one line, not at each handshake."""
    tls = TlsSettings(certs.server_cert, certs.other_key, flag="--grpc")
    with pytest.raises(ConfigError) as caught:
        tls.check()
    text = str(caught.value)
    assert "--grpc-server-cert" in text and "the key does not belong to the certificate" in text
    assert "_ssl.c" not in text and "\n" not in text


def test_encrypted_key_is_refused_without_a_prompt(certs: Certs, tmp_path: Path) -> None:
    """An encrypted key is refused with a reason; OpenSSL never prompts for a password."""
    key = tmp_path / "encrypted.pem"
    key.write_bytes(encrypted_key_pem(certs.server_key, b"secret"))
    with pytest.raises(ConfigError, match="the key is encrypted"):
        TlsSettings(certs.server_cert, key, flag="--http").check()


def test_file_that_is_not_pem_is_refused(certs: Certs, tmp_path: Path) -> None:
    """A certificate file holding no PEM is refused with the flag named."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"--http-server-cert .*junk\.pem.*not readable as PEM"):
        TlsSettings(junk, certs.server_key, flag="--http").check()
    with pytest.raises(ConfigError, match=r"--http-root-cert .*junk\.pem: no certificate"):
        TlsSettings(certs.server_cert, certs.server_key, junk, True, "--http").check()


def test_grpc_credentials_build(certs: Certs) -> None:
    """The gRPC front's credentials come from the same files."""
    tls = TlsSettings(certs.server_cert, certs.server_key, certs.ca, True, "--grpc")
    assert tls.grpc_credentials() is not None
    assert tls.describe() == "TLS, client certificates required"
