"""The runner's HTTPS: a self-signed certificate for 127.0.0.1 and localhost, and listeners that serve with it.

Some clients refuse ``http://`` base URLs (the official PagerDuty client among them), so the gateway can listen on
HTTPS too. The certificate is made once (with ``cryptography``) and kept in the data folder, so a client told to trust
it keeps trusting it across restarts.

The certificate is a *leaf* (``CA:FALSE``, no ``keyCertSign``, server authentication only), self-signed and trusted
as itself: a client told to trust it trusts this one server, and its key, which sits in the data folder, cannot sign
a certificate for any other name. A certificate kept from an older runner that was a CA is replaced at start.
"""

from __future__ import annotations

import datetime as dt
import ssl
import uuid
from pathlib import Path

from infra.local.httpd import Listener


def serve_tls(listener: Listener, cert_dir: Path) -> Path:
    """Wrap ``listener``'s socket in TLS with the kept certificate (made on first use); returns the certificate."""
    cert_path = ensure_certificate(cert_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, cert_path.with_suffix(".key"))
    # The handshake happens in the request's thread (httpd's handler), not in the accept loop.
    listener.socket = context.wrap_socket(listener.socket, server_side=True, do_handshake_on_connect=False)
    return cert_path


def ensure_certificate(directory: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 and localhost (PEM ``cert.pem`` + ``cert.key``), made once and
    reused, so a client told to trust it keeps trusting it across restarts."""
    cert_path = directory / "cert.pem"
    key_path = directory / "cert.key"
    if cert_path.is_file() and key_path.is_file() and not is_ca(cert_path):
        return cert_path
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "OnCall Hub local runner")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(uuid.uuid4().int >> 1)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path


def is_ca(cert_path: Path) -> bool:
    """Whether the PEM certificate may sign others (``CA:TRUE``); an unreadable one counts as one to replace."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
    except ValueError:
        return True
