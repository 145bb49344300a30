# created by c4forge from shop.puml:6 (container web "Web Shop").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Web Shop service.

Override methods of ``WebShopServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import WebShopServiceBase


class Service(WebShopServiceBase):
    """Web Shop: Pages and basket

    Dependencies available as attributes:
    ``self.order_service_client`` (OrderServiceClient),
    ``self.catalog_service_client`` (CatalogServiceClient).
    """

    # Example, calling a dependency from a handler:
    #
    # def uses(self, request: UsesRequest) -> UsesResponse:
    #     ...  # use self.order_service_client
    #     return UsesResponse(operation="uses", data=request.payload)
