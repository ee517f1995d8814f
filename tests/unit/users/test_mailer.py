"""The outbox format, SMTP URL parsing, and the choice between them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from estore.common.config import ConfigError, Settings
from estore.users.mailer import (
    MailError,
    OutboxMailer,
    SmtpMailer,
    mailer_for,
    reset_mail,
    verification_mail,
)


async def test_the_outbox_gets_one_json_object_per_mail(tmp_path: Path) -> None:
    outbox = tmp_path / "new" / "folder" / "outbox.jsonl"
    mailer = OutboxMailer(outbox)
    await mailer.send(verification_mail("ana@example.com", "tok-1"))
    await mailer.send(reset_mail("ana@example.com", "tok-2"))
    first, second = (json.loads(line) for line in outbox.read_text().splitlines())
    assert set(first) == {"kind", "to", "subject", "text", "token"}
    assert (first["kind"], first["to"], first["token"]) == (
        "verify_email",
        "ana@example.com",
        "tok-1",
    )
    assert "tok-1" in first["text"]
    assert (second["kind"], second["token"]) == ("reset_password", "tok-2")


async def test_an_unwritable_outbox_is_a_mail_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(MailError):
        await OutboxMailer(tmp_path / "file" / "outbox.jsonl").send(
            verification_mail("a@b.co", "t")
        )


def test_smtp_is_used_only_when_configured(tmp_path: Path) -> None:
    plain = Settings.from_env({"ESTORE_DATA_DIR": str(tmp_path)})
    assert isinstance(mailer_for(plain), OutboxMailer)
    smtp = Settings.from_env({"ESTORE_SMTP_URL": "smtp://mail.example.com:2525"})
    assert isinstance(mailer_for(smtp), SmtpMailer)


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "mail.example.com:25"])
def test_a_bad_smtp_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        SmtpMailer(url)
