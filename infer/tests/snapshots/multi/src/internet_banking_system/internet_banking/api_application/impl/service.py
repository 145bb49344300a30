# created by c4forge from C4_Container Diagram Sample - bigbankplc.puml:19 (container backend_api "API Application").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the API Application service.

Override methods of ``ApiApplicationServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import ApiApplicationServiceBase


class Service(ApiApplicationServiceBase):
    """API Application: Provides Internet banking functionality via API

    Dependencies available as attributes:
    ``self.database_repository`` (DatabaseRepository),
    ``self.mainframe_banking_system_client`` (MainframeBankingSystemClient).
    """

    # Example, calling a dependency from a handler:
    #
    # def uses(self, request: UsesRequest) -> UsesResponse:
    #     ...  # use self.database_repository
    #     return UsesResponse(operation="uses", data=request.payload)
