"""SMS through Amazon SNS (``Publish`` to a phone number, transactional): the texter the SMS service sends codes
with, and the SMS channel of the notification service.

Amazon SNS rather than AWS End User Messaging SMS: one API call and one IAM action, no origination identity to
provision before the first message, and the same per-message price (SNS delivers through End User Messaging; about
$0.0058 plus carrier fees per US message part at the time of writing, see the README). The channel, per send:

- asks SNS whether the number opted out (``STOP``): an opted-out number is ``ChannelBlocked`` (the person is flagged
  on SMS, the page falls back; verifying the number again lifts it);
- counts the SMS against the number's and everyone's hourly caps (``ONCALL_SMS_PER_PERSON_PER_HOUR``,
  ``ONCALL_SMS_GLOBAL_PER_HOUR``): past either it is ``ChannelFailed`` and the page goes to the next channel, so a
  storm cannot run up a bill;
- writes a page as one 160-character GSM-7 part with the incident's short id, its title and the signed ack link.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from oncall.domain.notifications import CAPPED_KINDS, Button, Message
from oncall.domain.sms import new_link_token, page_text, short_text
from oncall.observability import log
from oncall.services.notify import ChannelBlocked, ChannelFailed, ChannelRateLimited

TRANSACTIONAL = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}


class SnsTexter:
    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("sns")
        return self._client

    def send(self, number: str, text: str) -> str:
        reply = self.client.publish(PhoneNumber=number, Message=text, MessageAttributes=TRANSACTIONAL)
        return str(reply["MessageId"])

    def opted_out(self, number: str) -> bool:
        return bool(self.client.check_if_phone_number_is_opted_out(phoneNumber=number)["isOptedOut"])


class SmsChannel:
    """Addresses are ``<E.164 number>/<user id>`` (the person an ack link acts for); refs ``sms:<message id>``."""

    name = "sms"

    def __init__(
        self,
        texter: SnsTexter,
        store: Any,
        key: bytes,
        public_url: str | None,
        clock: Callable[[], datetime],
        *,
        per_person_per_hour: int,
        global_per_hour: int,
        link_ttl: timedelta,
        per_second: int = 20,
    ) -> None:
        self.texter = texter
        self.store = store
        self.key = key
        self.public_url = (public_url or "").rstrip("/")
        self.clock = clock
        self.per_person = per_person_per_hour
        self.overall = global_per_hour
        self.link_ttl = link_ttl
        self.per_second = per_second

    def limits(self, address: str) -> Sequence[tuple[str, int]]:
        # SNS's default SMS rate for an account
        return (("sms:account", self.per_second),)

    def send(self, address: str, message: Message) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        number, _, user_id = address.partition("/")
        now = self.clock()
        try:
            if self.texter.opted_out(number):
                raise ChannelBlocked("the number opted out of SMS (STOP)")
            full = self.store.take(number, self.per_person, self.overall, now)
            if full is not None:
                raise ChannelFailed(f"SMS {full.replace('_', '-')} hourly cap reached")
            text = self._text(message, user_id, now)
            return f"sms:{self.texter.send(number, text)}"
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("Throttling", "ThrottlingException"):
                raise ChannelRateLimited(1.0) from None
            if code in ("InvalidParameter", "InvalidParameterValue", "OptedOut"):
                raise ChannelBlocked(f"SNS refused the number: {code}") from None
            raise ChannelFailed(f"SNS: {code or 'error'}") from None
        except BotoCoreError as exc:
            raise ChannelFailed(f"SNS unreachable: {type(exc).__name__}") from None

    def _text(self, message: Message, user_id: str, now: datetime) -> str:
        if message.incident_id is None or message.kind not in CAPPED_KINDS:
            return short_text(message.text)
        link = None
        if self.public_url and user_id:
            token, digest = new_link_token(self.key)
            self.store.put_link(digest, user_id, message.incident_id, int((now + self.link_ttl).timestamp()))
            link = f"{self.public_url}/sms/ack/{token}"
        else:
            log.warning("sms page without an ack link: no public URL configured")
        title = message.content.headline if message.content is not None else message.text.split("\n", 1)[0]
        # the headline's severity marker is an emoji, which GSM-7 has not
        return page_text(message.incident_id[-8:].upper(), title.lstrip("🔴🟠🟡🔵⚪ "), link)

    def edit(self, ref: str, text: str, buttons: tuple[tuple[Button, ...], ...]) -> None:
        """A sent SMS cannot be changed; the acknowledgement is on the incident and every other copy."""
        return
