"""The email channel of the notification service: raw MIME through SES v2 (or an SMTP server when configured).

Raw MIME (``SendEmail`` with ``Content.Raw``) rather than SES's simple content, because only raw mail keeps our own
headers: ``List-Unsubscribe`` / ``List-Unsubscribe-Post`` on non-page mail (RFC 2369 / RFC 8058; Gmail and Yahoo
require them for bulk senders), ``X-OnCall-*`` for filtering, and a ``Message-ID`` we return as the delivery ref.
Every message has a text and an HTML part; a page's are rendered from its ``PageContent`` (``render``).

Configuration: ``EmailSettings``, built by the wiring from ``oncall.settings.NotificationSettings``
(``ONCALL_EMAIL_*``, ``ONCALL_SMTP_*``; README "Configuration"). Without a sender configured, mail sent through an
SMTP server comes from the placeholder below.
"""

from __future__ import annotations

import email.policy
import html
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any, Protocol

from oncall.domain import texts
from oncall.domain.notifications import Button, Kind, Message
from oncall.domain.page_content import email_html, plain_text
from oncall.services.notify import ChannelFailed, ChannelRateLimited

#: kinds that wake someone up: no unsubscribe link (you cannot opt out of being paged by email filters)
URGENT_KINDS = frozenset({Kind.PAGE, Kind.ESCALATION})


@dataclass(frozen=True)
class EmailSettings:
    sender: str = "OnCall Hub <oncall@example.com>"
    unsubscribe_url: str | None = None
    rate_per_second: int = 10
    smtp_host: str | None = None
    smtp_port: int = 25

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]


# -- templates -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _button_lines(buttons: tuple[tuple[Button, ...], ...]) -> list[str]:
    # Telegram buttons call back into the bot; in mail they become instructions (the API or the bot does the action)
    return [b.text for row in buttons for b in row]


def render(message: Message) -> Rendered:
    """Subject, text and HTML of a message. A page with ``content`` is rendered from it (the same facts and links
    as on Telegram); anything else from its text."""
    content = message.content
    first, _, _rest = message.text.strip().partition("\n")
    headline = content.subject if content is not None else first.strip()
    subject = f"{texts.MAIL_SUBJECT_PREFIX[message.kind.value]} {headline}"[:200]
    actions = _button_lines(message.buttons)
    footer = []
    if message.incident_id and content is None:
        footer.append(texts.mail_incident(message.incident_id))
    if actions:
        footer.append(texts.mail_actions(actions))
    body = plain_text(content) if content is not None else message.text.strip()
    text = body + ("\n\n" + "\n".join(footer) if footer else "") + f"\n\n-- \n{texts.MAIL_SIGNATURE}\n"
    if content is not None:
        main = email_html(content)
    else:
        paragraphs = "".join(
            f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in message.text.strip().split("\n\n") if p.strip()
        )
        color = "#b00020" if message.kind in URGENT_KINDS else "#333333"
        main = f'<h2 style="color:{color}">{html.escape(subject)}</h2>{paragraphs}'
    html_body = (
        '<!doctype html><html><body style="font-family:sans-serif">'
        + main
        + "".join(f'<p style="color:#666">{html.escape(line)}</p>' for line in footer)
        + f'<hr><p style="color:#999;font-size:small">{texts.MAIL_SIGNATURE}</p></body></html>'
    )
    return Rendered(subject=subject, text=text, html=html_body)


def build_mime(message: Message, to: str, settings: EmailSettings) -> EmailMessage:
    rendered = render(message)
    mime = EmailMessage(policy=email.policy.SMTP)
    domain = settings.sender_address.rpartition("@")[2] or "oncall.local"
    mime["From"] = settings.sender
    mime["To"] = to
    mime["Subject"] = rendered.subject
    mime["Date"] = formatdate(usegmt=True)
    mime["Message-ID"] = make_msgid(domain=domain)
    mime["X-OnCall-Kind"] = message.kind.value
    mime["X-OnCall-Key"] = message.key
    if message.incident_id:
        mime["X-OnCall-Incident"] = message.incident_id
    if message.kind in URGENT_KINDS:
        mime["X-Priority"] = "1"
        mime["Importance"] = "high"
    else:
        targets = [f"<mailto:{settings.sender_address}?subject=unsubscribe%20{message.kind.value}>"]
        if settings.unsubscribe_url:
            targets.insert(0, f"<{settings.unsubscribe_url}>")
            mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mime["List-Unsubscribe"] = ", ".join(targets)
    mime.set_content(rendered.text)
    mime.add_alternative(rendered.html, subtype="html")
    return mime


# -- transports ----------------------------------------------------------------------------------------------------


class Transport(Protocol):
    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> None: ...


class SesV2Transport:
    """``sesv2.SendEmail`` with ``Content.Raw``: in AWS the real SES, locally the emulator's (its mail outbox)."""

    THROTTLED = frozenset({"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException"})

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("sesv2")
        return self._client

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.send_email(
                FromEmailAddress=sender,
                Destination={"ToAddresses": list(recipients)},
                Content={"Raw": {"Data": raw}},
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in self.THROTTLED:
                raise ChannelRateLimited(1.0) from None
            raise ChannelFailed(f"SES {code}: {exc.response.get('Error', {}).get('Message', '')}"[:300]) from None
        except BotoCoreError as exc:
            raise ChannelFailed(f"SES unreachable: {exc}"[:300]) from None


class SmtpTransport:
    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.sendmail(sender, list(recipients), raw)
        except smtplib.SMTPRecipientsRefused as exc:
            raise ChannelFailed(f"SMTP refused the recipient: {exc.recipients}"[:300]) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelFailed(f"SMTP {self.host}:{self.port}: {exc}"[:300]) from None


# -- the channel ---------------------------------------------------------------------------------------------------


class EmailChannel:
    """Registered with the notification service as ``email``; its refs are ``mail:<Message-ID>``."""

    name = "email"

    def __init__(self, transport: Transport, settings: EmailSettings) -> None:
        self.transport = transport
        self.settings = settings

    def limits(self, address: str) -> Sequence[tuple[str, int]]:
        # SES's account-wide sending rate is the limit that matters; per recipient nothing is needed
        return [("email:account", self.settings.rate_per_second)]

    def send(self, address: str, message: Message) -> str:
        mime = build_mime(message, address, self.settings)
        self.transport.send(mime.as_bytes(), self.settings.sender_address, [address])
        return "mail:" + str(mime["Message-ID"]).strip("<>")

    def edit(self, ref: str, text: str, buttons: tuple[tuple[Button, ...], ...]) -> None:
        """Sent mail cannot be changed; the action the edit would show is already recorded on the incident."""
        return


def transport_from(settings: EmailSettings) -> Transport:
    if settings.smtp_host:
        return SmtpTransport(settings.smtp_host, settings.smtp_port)
    return SesV2Transport()
