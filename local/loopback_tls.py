"""A certificate authority made at start-up, and a certificate it signs for the loopback doubles.

azure-identity talks to an authority only over https, so the Azure double serves TLS. Nothing is
checked in: `LoopbackTls.create()` makes a fresh CA and a server certificate for 127.0.0.1 and
localhost (ECDSA P-256, valid one day), writes the CA to a PEM bundle clients trust through
`REQUESTS_CA_BUNDLE` / `SSL_CERT_FILE` — followed by certifi's roots, so a process pointed at the
bundle still reaches real HTTPS hosts — and removes its files on `close()`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class LoopbackTls:
    directory: Path
    ca_bundle: Path  # what REQUESTS_CA_BUNDLE / SSL_CERT_FILE point at
    cert_file: Path
    key_file: Path

    @classmethod
    def create(cls) -> Self:
        directory = Path(tempfile.mkdtemp(prefix="downbeat-tls-"))
        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "downbeat local doubles CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )  # fmt: skip
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
        bundle = directory / "ca-bundle.pem"
        bundle.write_bytes(ca_pem + _certifi_roots())
        cert_file = directory / "server.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
        key_file = directory / "server.key"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_file.chmod(0o600)
        return cls(directory, bundle, cert_file, key_file)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2  # Microsoft's endpoints refuse older TLS too
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _certifi_roots() -> bytes:
    try:
        import certifi  # noqa: PLC0415 - present with requests; only its roots are wanted
    except ImportError:  # pragma: no cover - requests depends on it
        return b""
    return b"\n" + Path(certifi.where()).read_bytes()
