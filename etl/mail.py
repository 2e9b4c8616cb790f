"""Sending mail through the user's own SMTP server (standard library smtplib), and checking
addresses before anything is sent.

Settings come from the settings reader (docs/configuration.md, "Email"): LEDGERLIGHT_SMTP_HOST,
_PORT, _SECURITY (starttls, tls or none), _USER, _PASSWORD, _FROM and _CA_FILE. The password is
handed to smtplib's login and nowhere else: no message, log line or repr holds it.

A message either went (the server answered 250), was refused (the server said no: it did not go)
or is uncertain (the connection broke while the server had it): `MessageRefused` and
`DeliveryUncertain` say which, so the exactly-once record can tell the two apart.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime

from email_validator import EmailNotValidError, validate_email

from core.errors import InputError, SendError, SettingsError
from core.settings import Settings, settings as current_settings

SETTING_NAMES = {
    "host": "LEDGERLIGHT_SMTP_HOST",
    "port": "LEDGERLIGHT_SMTP_PORT",
    "security": "LEDGERLIGHT_SMTP_SECURITY",
    "user": "LEDGERLIGHT_SMTP_USER",
    "password": "LEDGERLIGHT_SMTP_PASSWORD",
    "sender": "LEDGERLIGHT_SMTP_FROM",
    "ca_file": "LEDGERLIGHT_SMTP_CA_FILE",
}
SECURITIES = {"starttls": 587, "tls": 465, "none": 25}
TIMEOUT_SECONDS = 30
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SETUP = "See docs/collections.md, 'Sending through your SMTP server'."


class MessageRefused(SendError):
    """The server refused the message: it was not sent."""


class DeliveryUncertain(SendError):
    """The connection broke while the server held the message: it may or may not have gone."""


def address(text: str, what: str) -> str:
    """One email address, checked for syntax only (no DNS look-up), in its normal form."""
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InputError(f"{what} {text.strip()!r} is not an email address ({exc})") from None


def addresses(text: str | None, what: str) -> list[str]:
    """The addresses in a field that may hold several (QuickBooks allows 'a@x.com, b@y.com')."""
    parts = [part for part in (text or "").replace(";", ",").split(",") if part.strip()]
    return [address(part, what) for part in parts]


def sender(reader: Settings | None = None, required: bool = True) -> str | None:
    """The From address (LEDGERLIGHT_SMTP_FROM), checked."""
    text = (reader or current_settings()).get(SETTING_NAMES["sender"])
    if text is None:
        if required:
            raise SettingsError(f"set LEDGERLIGHT_SMTP_FROM to the address reminders come from. {_SETUP}")
        return None
    return address(text, "LEDGERLIGHT_SMTP_FROM")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    sender: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None


def smtp_settings(reader: Settings | None = None) -> SmtpSettings:
    """The SMTP settings from the settings reader, checked; a problem names the setting, never its value."""
    reader = reader or current_settings()
    values = {name: reader.get(variable) for name, variable in SETTING_NAMES.items()}
    if values["host"] is None:
        raise SettingsError(f"email is not configured: set LEDGERLIGHT_SMTP_HOST (and LEDGERLIGHT_SMTP_FROM). {_SETUP}")
    security = (values["security"] or "starttls").lower()
    if security not in SECURITIES:
        raise SettingsError(f"LEDGERLIGHT_SMTP_SECURITY must be one of {', '.join(SECURITIES)}. {_SETUP}")
    port_text = values["port"] or str(SECURITIES[security])
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SettingsError("LEDGERLIGHT_SMTP_PORT must be a port number from 1 to 65535")
    if (values["user"] is None) != (values["password"] is None):
        missing = "LEDGERLIGHT_SMTP_PASSWORD" if values["password"] is None else "LEDGERLIGHT_SMTP_USER"
        raise SettingsError(f"set {missing} too: a login needs both a user and a password")
    if security == "none" and values["password"] is not None and values["host"].lower() not in _LOOPBACK:
        raise SettingsError("LEDGERLIGHT_SMTP_SECURITY=none would send the password unencrypted to "
                            f"{values['host']}: use starttls or tls (none is only for a server on this machine)")
    return SmtpSettings(values["host"], int(port_text), security, sender(reader), values["user"], values["password"],
                        values["ca_file"])


def settings_status(reader: Settings | None = None) -> dict[str, bool]:
    """Which email settings are present, by name (never their values)."""
    return (reader or current_settings()).present(SETTING_NAMES.values())


class Mailer:
    """One logged-in connection to the SMTP server. Opening it connects and logs in, so a wrong
    host, port, security or password is found before any message is sent."""

    def __init__(self, chosen: SmtpSettings):
        self._settings = chosen
        self._where = f"{chosen.host}:{chosen.port}"
        self._smtp: smtplib.SMTP | None = None
        try:
            self._smtp = self._connect()
        except SendError:
            self.close()
            raise

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self._settings.ca_file:
            try:
                context.load_verify_locations(cafile=self._settings.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise SettingsError(f"LEDGERLIGHT_SMTP_CA_FILE could not be read as PEM certificates ({exc})") from None
        return context

    def _connect(self) -> smtplib.SMTP:
        chosen, where = self._settings, self._where
        step = "connect"
        try:
            if chosen.security == "tls":
                smtp = smtplib.SMTP_SSL(chosen.host, chosen.port, timeout=TIMEOUT_SECONDS, context=self._context())
            else:
                smtp = smtplib.SMTP(chosen.host, chosen.port, timeout=TIMEOUT_SECONDS)
            self._smtp = smtp
            smtp.ehlo()
            if chosen.security == "starttls":
                step = "starttls"
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if chosen.user is not None:
                step = "login"
                smtp.login(chosen.user, chosen.password)
            return smtp
        except socket.gaierror:
            raise SendError(f"LEDGERLIGHT_SMTP_HOST {chosen.host!r} is not a host name this machine can resolve; "
                            "nothing was sent") from None
        except ConnectionRefusedError:
            raise SendError(f"nothing answers on {where} (connection refused): check LEDGERLIGHT_SMTP_HOST and "
                            "LEDGERLIGHT_SMTP_PORT; nothing was sent") from None
        except (TimeoutError, socket.timeout):
            raise SendError(f"no answer from {where} within {TIMEOUT_SECONDS} s: check LEDGERLIGHT_SMTP_HOST, "
                            "LEDGERLIGHT_SMTP_PORT and your firewall; nothing was sent") from None
        except ssl.SSLCertVerificationError as exc:
            raise SendError(f"the certificate of {where} could not be verified ({exc.verify_message}): if your server "
                            "uses a private certificate authority, point LEDGERLIGHT_SMTP_CA_FILE at its certificate; "
                            "nothing was sent") from None
        except ssl.SSLError as exc:
            raise SendError(f"TLS with {where} failed ({exc.reason or exc}): LEDGERLIGHT_SMTP_SECURITY is "
                            f"{chosen.security!r}; use tls for a server that starts with TLS (usually port 465), "
                            "starttls for one that upgrades (usually 587); nothing was sent") from None
        except smtplib.SMTPNotSupportedError:
            fix = ("STARTTLS: set LEDGERLIGHT_SMTP_SECURITY to tls (or none for a server on this machine)"
                   if step == "starttls" else
                   "a login (AUTH) on this connection: check LEDGERLIGHT_SMTP_SECURITY, or leave LEDGERLIGHT_SMTP_USER "
                   "and LEDGERLIGHT_SMTP_PASSWORD unset if it needs none")
            raise SendError(f"{where} does not offer {fix}; nothing was sent") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError(f"{where} refused the login of {chosen.user!r} ({exc.smtp_code} {_said(exc.smtp_error)}): "
                            "check LEDGERLIGHT_SMTP_USER and LEDGERLIGHT_SMTP_PASSWORD; nothing was sent") from None
        except smtplib.SMTPException as exc:
            raise SendError(f"{where} would not take mail ({_said(exc)}); nothing was sent") from None
        except OSError as exc:
            raise SendError(f"could not reach {where} ({exc.strerror or exc}); nothing was sent") from None

    def send(self, message: EmailMessage) -> None:
        """Hand one message to the server; MessageRefused if it said no, DeliveryUncertain if the
        connection broke while it held the message."""
        try:
            refused = self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise MessageRefused(f"{self._where} refused every recipient ({_refusals(exc.recipients)})") from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError, smtplib.SMTPHeloError) as exc:
            raise MessageRefused(f"{self._where} refused the message ({exc.smtp_code} {_said(exc.smtp_error)})") from None
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException, OSError) as exc:
            raise DeliveryUncertain(f"the connection to {self._where} broke while it held the message ({exc})") from None
        if refused:
            raise DeliveryUncertain(f"{self._where} took the message for some recipients only ({_refusals(refused)})")

    def close(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            self._smtp.close()
        self._smtp = None


def compose(sender: str, recipients: list[str] | tuple[str, ...], subject: str, body: str, sent_at: datetime,
            attachments: list[tuple[str, bytes, str]] | tuple = (), message_id: str | None = None,
            headers: dict[str, str] | None = None) -> EmailMessage:
    """A plain-text message with attachments (file name, content, MIME type such as
    'application/pdf'); `sent_at` in UTC, naive as `Settings.now()` gives it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = format_datetime(sent_at.replace(tzinfo=timezone.utc))
    if message_id:
        message["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    for file_name, content, mime_type in attachments:
        maintype, _, subtype = mime_type.partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=file_name)
    return message


def send_one(message: EmailMessage, reader: Settings | None = None) -> None:
    """Send one message through the SMTP server of the settings: connect, log in, send, close.
    SendError (MessageRefused, DeliveryUncertain) says what went wrong, never the password."""
    mailer = Mailer(smtp_settings(reader))
    try:
        mailer.send(message)
    finally:
        mailer.close()


def check_connection(reader: Settings | None = None) -> None:
    """Connect and log in, then leave: a wrong host, port, security or password is found (SendError,
    SettingsError) before a long piece of work whose result is to be sent."""
    Mailer(smtp_settings(reader)).close()


def _said(text) -> str:
    return (text.decode(errors="replace") if isinstance(text, bytes) else str(text)).strip()


def _refusals(recipients: dict) -> str:
    return "; ".join(f"{who}: {code} {_said(text)}" for who, (code, text) in recipients.items())
