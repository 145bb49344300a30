# created by c4forge from C4_Deployment Diagram Sample - bigbankplc.puml:16 (container api "API Application").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the API Application service.

Override methods of ``ApiApplicationServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import ApiApplicationServiceBase


class Service(ApiApplicationServiceBase):
    """API Application: Provides Internet Banking functionality via a JSON/HTTPS API.

    Dependencies available as attributes:
    ``self.database_repository`` (DatabaseRepository),
    ``self.database_2_repository`` (Database2Repository).
    """

    # Example, calling a dependency from a handler:
    #
    # def makes_api_calls_to(self, request: MakesApiCallsToRequest) -> MakesApiCallsToResponse:
    #     ...  # use self.database_repository
    #     return MakesApiCallsToResponse(operation="makes_api_calls_to", data=request.payload)
