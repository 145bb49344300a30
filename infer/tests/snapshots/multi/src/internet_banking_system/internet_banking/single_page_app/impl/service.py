# created by c4forge from C4_Container Diagram Sample - bigbankplc.puml:16 (container spa "Single-Page App").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Single-Page App service.

Override methods of ``SinglePageAppServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import SinglePageAppServiceBase


class Service(SinglePageAppServiceBase):
    """Single-Page App: Provides all the Internet banking functionality to customers via their web browser

    Dependencies available as attributes:
    ``self.api_application_client`` (ApiApplicationClient).
    """

    # Example, calling a dependency from a handler:
    #
    # def uses(self, request: UsesRequest) -> UsesResponse:
    #     ...  # use self.api_application_client
    #     return UsesResponse(operation="uses", data=request.payload)
