# created by c4forge from long_names.puml:5 (container storefront_application_for_independent_retailers_and_customers "Storefront Application For Independent Retailers And Their Customers").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Storefront Application For Independent Retailers And Their Customers service.

Override methods of ``StorefrontApplicationForIndependentRetailersServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import StorefrontApplicationForIndependentRetailersServiceBase


class Service(StorefrontApplicationForIndependentRetailersServiceBase):
    """Storefront Application For Independent Retailers And Their Customers: Pages, baskets and checkout of every independent retailer in the network

    Dependencies available as attributes:
    ``self.order_management_and_fulfilment_coordination_ser_client`` (OrderManagementAndFulfilmentCoordinationSer),
    ``self.session_and_basket_cache_for_returning_customers_cache`` (SessionAndBasketCacheForReturningCustomers).
    """

    # Example, calling a dependency from a handler:
    #
    # def browses_the_complete_product_catalog_and_places(self, request: BrowsesTheCompleteProductCatalogAndPlacesRequest) -> BrowsesTheCompleteProductCatalogAndPlacesResponse:
    #     ...  # use self.order_management_and_fulfilment_coordination_ser_client
    #     return BrowsesTheCompleteProductCatalogAndPlacesResponse(operation="browses_the_complete_product_catalog_and_places", data=request.payload)
