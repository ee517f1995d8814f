"""Outgoing mail: SMTP when `ESTORE_SMTP_URL` is set, else the log and a JSON-lines outbox."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from estore.common.config import ConfigError, Settings
from estore.users.models import TokenPurpose

log = logging.getLogger("estore.users.mail")

DEFAULT_SENDER = "EStore <no-reply@estore.localhost>"
SMTP_TIMEOUT_SECONDS = 10.0


class MailError(Exception):
    """A mail could not be handed over for delivery."""


@dataclass(frozen=True)
class Mail:
    """One mail carrying a token; the outbox stores exactly these keys."""

    kind: TokenPurpose
    to: str
    subject: str
    text: str
    token: str


def verification_mail(to: str, token: str) -> Mail:
    """The mail that lets the owner of `to` prove it."""
    text = (
        "Welcome to EStore.\n\n"
        f"Your email verification token is:\n\n    {token}\n\n"
        "Send it with UserService.VerifyEmail within 24 hours.\n"
    )
    return Mail(TokenPurpose.VERIFY_EMAIL, to, "Verify your EStore email address", text, token)


def reset_mail(to: str, token: str) -> Mail:
    """The mail that lets the owner of `to` choose a new password."""
    text = (
        "Someone asked to reset the password of your EStore account.\n\n"
        f"Your password reset token is:\n\n    {token}\n\n"
        "Send it with UserService.ResetPassword within 24 hours. "
        "If you did not ask for this, ignore this mail.\n"
    )
    return Mail(TokenPurpose.RESET_PASSWORD, to, "Reset your EStore password", text, token)


class Mailer(Protocol):
    """Something that sends mail."""

    async def send(self, mail: Mail) -> None:
        """Hand `mail` over for delivery; MailError when that fails."""


class OutboxMailer:
    """Development mail: a log line and one JSON object per mail appended to a file."""

    def __init__(self, outbox: Path) -> None:
        self._outbox = outbox

    async def send(self, mail: Mail) -> None:
        """Log the mail and append it to the outbox."""
        log.info("mail", extra={"mail_kind": str(mail.kind), "to": mail.to, "text": mail.text})
        try:
            await asyncio.to_thread(self._append, json.dumps(asdict(mail)) + "\n")
        except OSError as error:
            raise MailError(f"cannot write the outbox {self._outbox}: {error}") from error

    def _append(self, line: str) -> None:
        self._outbox.parent.mkdir(parents=True, exist_ok=True)
        with self._outbox.open("a", encoding="utf-8") as outbox:
            outbox.write(line)


class SmtpMailer:
    """Mail through `smtp://[user:password@]host[:port][?from=address]` (or `smtps://`)."""

    # smtps:// connects with TLS; plain smtp:// upgrades with STARTTLS when the server offers it.

    def __init__(self, url: str, *, timeout: float = SMTP_TIMEOUT_SECONDS) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError(f"ESTORE_SMTP_URL={url!r} is not smtp://host:port or smtps://...")
        self._tls = parts.scheme == "smtps"
        self._host = parts.hostname
        self._port = parts.port or (465 if self._tls else 25)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._sender = parse_qs(parts.query).get("from", [DEFAULT_SENDER])[0]
        self._timeout = timeout

    async def send(self, mail: Mail) -> None:
        """Deliver `mail` to the SMTP server."""
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["X-EStore-Mail-Kind"] = str(mail.kind)
        message.set_content(mail.text)
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                use_tls=self._tls,
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            raise MailError(f"SMTP {self._host}:{self._port} refused the mail: {error}") from error
        log.info("mail sent", extra={"mail_kind": str(mail.kind), "to": mail.to})


def mailer_for(settings: Settings) -> Mailer:
    """SMTP when configured, else the outbox."""
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url)
    return OutboxMailer(settings.mail_outbox)
