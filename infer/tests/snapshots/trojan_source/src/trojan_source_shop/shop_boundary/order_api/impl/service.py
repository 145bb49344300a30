# created by c4forge from trojan.puml:5 (container api "Order API").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Order API service.

Override methods of ``OrderApiServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import OrderApiServiceBase


class Service(OrderApiServiceBase):
    """Order API: Takes orders; \"\"\" # access check end

    Dependencies available as attributes:
    ``self.orders_db_repository`` (OrdersDbRepository).
    """

    # Example, calling a dependency from a handler:
    #
    # def approves_refunds_in(self, request: ApprovesRefundsInRequest) -> ApprovesRefundsInResponse:
    #     ...  # use self.orders_db_repository
    #     return ApprovesRefundsInResponse(operation="approves_refunds_in", data=request.payload)
