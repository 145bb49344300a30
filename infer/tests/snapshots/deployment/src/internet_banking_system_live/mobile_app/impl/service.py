# created by c4forge from C4_Deployment Diagram Sample - bigbankplc.puml:37 (container mobile "Mobile App").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Mobile App service.

Override methods of ``MobileAppServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import MobileAppServiceBase


class Service(MobileAppServiceBase):
    """Mobile App: Provides a limited subset of the Internet Banking functionality to customers via their mobile device.

    Dependencies available as attributes:
    ``self.api_application_client`` (ApiApplicationClient).
    """
