"""A real SMTP server on 127.0.0.1 for the tests: aiosmtpd (the maintained asyncio SMTP server)
with a handler that keeps every message it accepts, optional AUTH, STARTTLS or implicit TLS with
a throwaway certificate authority made here with `cryptography`, and a hook that runs when a
message has been received but before the server answers 250 (to kill the sender right there).

Wire behaviour is aiosmtpd's own (RFC 5321 with AUTH PLAIN/LOGIN per RFC 4954 and STARTTLS per
RFC 3207), so smtplib in the product talks to it exactly as to a real relay.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.browser import free_port

USER, PASSWORD = "billing@northwind.example", "s3cret-Pa55word"
SENDER = "billing@northwind.example"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.content, policy=email.policy.default)


@dataclass
class Recorder:
    """The handler: keeps what it accepted; `before_answer(count, server)` runs once the count-th
    message is in, before the 250 that tells the client it was taken (closing
    `server.transport` there breaks the connection while the server holds the message)."""

    received: list[Received] = field(default_factory=list)
    before_answer: Callable[[int, object], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
            count = len(self.received)
        if self.before_answer is not None:
            self.before_answer(count, server)
        return "250 Message accepted for delivery"


def _authenticator(server, session, envelope, mechanism, auth_data):
    good = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
    return AuthResult(success=good, handled=False)


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate it signed for localhost / 127.0.0.1: (ca, cert, key) PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    start = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(2040, 1, 1, tzinfo=dt.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ledgerlight test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@dataclass
class Server:
    port: int
    recorder: Recorder
    ca_file: Path | None

    @property
    def received(self) -> list[Received]:
        return self.recorder.received

    def settings(self, security: str = "none", login: bool = True, **overrides: str) -> dict[str, str]:
        """The LEDGERLIGHT_SMTP_* settings that reach this server."""
        chosen = {"LEDGERLIGHT_SMTP_HOST": "127.0.0.1", "LEDGERLIGHT_SMTP_PORT": str(self.port),
                  "LEDGERLIGHT_SMTP_SECURITY": security, "LEDGERLIGHT_SMTP_FROM": SENDER}
        if login:
            chosen.update({"LEDGERLIGHT_SMTP_USER": USER, "LEDGERLIGHT_SMTP_PASSWORD": PASSWORD})
        if self.ca_file is not None:
            chosen["LEDGERLIGHT_SMTP_CA_FILE"] = str(self.ca_file)
        chosen.update(overrides)
        return chosen


@contextmanager
def running(tls: str = "none", certificates: tuple[Path, Path, Path] | None = None, auth: bool = True):
    """An SMTP server on a free loopback port. `tls`: 'none', 'starttls' (offered and required)
    or 'tls' (implicit, from the first byte). `auth`: AUTH is required."""
    recorder = Recorder()
    port = free_port()
    options: dict = {"authenticator": _authenticator, "auth_required": True} if auth else {}
    ca_file = None
    if tls != "none":
        ca_file, cert, key = certificates
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        if tls == "starttls":
            options.update(tls_context=context, require_starttls=True)
        else:  # aiosmtpd does not count a connection that started with TLS as TLS for AUTH
            options.update(ssl_context=context, server_hostname="localhost", auth_require_tls=False)
    else:
        options["auth_require_tls"] = False
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield Server(port, recorder, ca_file)
    finally:
        controller.stop()
