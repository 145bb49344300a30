# created by c4forge from C4_Container Diagram Sample - message bus.puml:13 (container app "Customer Application").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Customer Application service.

Override methods of ``CustomerApplicationServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import CustomerApplicationServiceBase


class Service(CustomerApplicationServiceBase):
    """Customer Application: Allows customers to manage their profile

    Dependencies available as attributes:
    ``self.customer_service_client`` (CustomerServiceClient).
    """

    # Example, calling a dependency from a handler:
    #
    # def uses(self, request: UsesRequest) -> UsesResponse:
    #     ...  # use self.customer_service_client
    #     return UsesResponse(operation="uses", data=request.payload)
