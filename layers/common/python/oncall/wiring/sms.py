"""SMS: the SMS service (numbers, codes, ack links) for the API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oncall.settings import SmsSettings, get_settings, load
from oncall.wiring import core, incidents, notifications
from oncall.wiring.seam import clock, once

if TYPE_CHECKING:
    from oncall.services.sms import SmsService


def sms_service() -> SmsService:
    def build() -> SmsService:
        from oncall.adapters.dynamodb.sms import DynamoSmsStore
        from oncall.adapters.sms import SnsTexter
        from oncall.domain.errors import NotFound
        from oncall.services.sms import SmsService

        sms = load(SmsSettings)
        if not sms.enabled:
            # like single sign-on without a provider: the routes exist, the feature does not (ONCALL_SMS_ENABLED)
            raise NotFound("feature", "sms")
        return SmsService(
            store=DynamoSmsStore(get_settings().table("notifications")),
            texter=SnsTexter(),
            people=core.user_store(),
            incidents=incidents.incident_service(),
            key=notifications.sms_link_key(),
            clock=clock(),
            caps=(sms.per_person_per_hour, sms.global_per_hour),
        )

    return once("sms_service", build)
