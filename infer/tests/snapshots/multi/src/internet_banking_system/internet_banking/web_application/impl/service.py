# created by c4forge from C4_Container Diagram Sample - bigbankplc.puml:15 (container web_app "Web Application").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Web Application service.

Override methods of ``WebApplicationServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import WebApplicationServiceBase


class Service(WebApplicationServiceBase):
    """Web Application: Delivers the static content and the Internet banking SPA

    Dependencies available as attributes:
    ``self.single_page_app_client`` (SinglePageAppClient).
    """

    # Example, calling a dependency from a handler:
    #
    # def uses(self, request: UsesRequest) -> UsesResponse:
    #     ...  # use self.single_page_app_client
    #     return UsesResponse(operation="uses", data=request.payload)
