"""Certificates made for the tests with ``cryptography``: a CA, a server certificate for
127.0.0.1 / localhost, a client certificate it signs, and a second CA that nothing trusts."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Certs:
    """PEM files in one folder."""

    ca: Path  # the CA that signed server and client
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_ca: Path  # a CA that signed rogue_client; the server does not trust it
    rogue_client_cert: Path
    rogue_client_key: Path
    other_key: Path  # a key that matches no certificate here


def make_certs(folder: Path) -> Certs:
    """Write a CA, server and client certificates (EC P-256, valid for a day) to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca = _ca("modelport test CA")
    rogue_key, rogue = _ca("rogue CA")
    server_key = _key()
    server = _leaf("modelport test server", server_key, ca_key, ca, server=True)
    client_key = _key()
    client = _leaf("modelport test client", client_key, ca_key, ca, server=False)
    rogue_client_key = _key()
    rogue_client = _leaf("rogue client", rogue_client_key, rogue_key, rogue, server=False)
    files = {
        "ca": _cert_pem(ca), "server_cert": _cert_pem(server), "server_key": _key_pem(server_key),
        "client_cert": _cert_pem(client), "client_key": _key_pem(client_key),
        "rogue_ca": _cert_pem(rogue), "rogue_client_cert": _cert_pem(rogue_client),
        "rogue_client_key": _key_pem(rogue_client_key), "other_key": _key_pem(_key()),
    }
    paths = {}
    for name, data in files.items():
        path = folder / f"{name}.pem"
        path.write_bytes(data)
        paths[name] = path
    return Certs(**paths)


def encrypted_key_pem(path: Path, password: bytes) -> bytes:
    """The key in ``path`` encrypted with ``password``."""
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(password))


def _key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=1))


def _ca(common_name: str) -> tuple[Key, x509.Certificate]:
    key = _key()
    builder = _validity(x509.CertificateBuilder()).subject_name(_name(common_name)).issuer_name(
        _name(common_name)).public_key(key.public_key()).serial_number(x509.random_serial_number())
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                    critical=True)
    builder = builder.add_extension(
        x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                      content_commitment=False, key_encipherment=False, data_encipherment=False,
                      key_agreement=False, encipher_only=False, decipher_only=False),
        critical=True)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                    critical=False)
    return key, builder.sign(key, hashes.SHA256())


def _leaf(common_name: str, key: Key, ca_key: Key, ca: x509.Certificate,
          server: bool) -> x509.Certificate:
    builder = _validity(x509.CertificateBuilder()).subject_name(_name(common_name)).issuer_name(
        ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                    critical=True)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    if server:
        names: list[x509.GeneralName] = [x509.DNSName("localhost"),
                                         x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: Key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
