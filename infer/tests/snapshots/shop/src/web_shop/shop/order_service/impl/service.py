# created by c4forge from shop.puml:7 (container orders "Order Service").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Order Service service.

Override methods of ``OrderServiceServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import OrderServiceServiceBase


class Service(OrderServiceServiceBase):
    """Order Service: Takes and tracks orders

    Dependencies available as attributes:
    ``self.payment_provider_client`` (PaymentProviderClient),
    ``self.catalog_service_grpc_client`` (CatalogServiceGrpcClient).
    """

    # Example, calling a dependency from a handler:
    #
    # def places_orders_with(self, request: PlacesOrdersWithRequest) -> PlacesOrdersWithResponse:
    #     ...  # use self.payment_provider_client
    #     return PlacesOrdersWithResponse(operation="places_orders_with", data=request.payload)
