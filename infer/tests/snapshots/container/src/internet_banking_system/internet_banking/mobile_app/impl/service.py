# created by c4forge from C4_Container Diagram Sample - bigbankplc.puml:17 (container mobile_app "Mobile App").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Mobile App service.

Override methods of ``MobileAppServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import MobileAppServiceBase


class Service(MobileAppServiceBase):
    """Mobile App: Provides a limited subset of the Internet banking functionality to customers via their mobile device

    Dependencies available as attributes:
    ``self.api_application_client`` (ApiApplicationClient).
    """

    # Example, calling a dependency from a handler:
    #
    # def uses(self, request: UsesRequest) -> UsesResponse:
    #     ...  # use self.api_application_client
    #     return UsesResponse(operation="uses", data=request.payload)
