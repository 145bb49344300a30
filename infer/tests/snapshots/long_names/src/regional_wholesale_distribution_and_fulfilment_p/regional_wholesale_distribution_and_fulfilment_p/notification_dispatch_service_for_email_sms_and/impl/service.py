# created by c4forge from long_names.puml:12 (container notification_dispatch_service_for_email_sms_and_push_messages "Notification Dispatch Service For Email, SMS And Push Messages").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Notification Dispatch Service For Email, SMS And Push Messages service.

Override methods of ``NotificationDispatchServiceForEmailSmsAndServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import NotificationDispatchServiceForEmailSmsAndServiceBase


class Service(NotificationDispatchServiceForEmailSmsAndServiceBase):
    """Notification Dispatch Service For Email, SMS And Push Messages: Sends notifications"""
