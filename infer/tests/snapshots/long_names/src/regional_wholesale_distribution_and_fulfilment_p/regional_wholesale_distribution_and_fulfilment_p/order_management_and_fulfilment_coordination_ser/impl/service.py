# created by c4forge from long_names.puml:6 (container order_management_and_fulfilment_coordination_service "Order Management And Fulfilment Coordination Service").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Order Management And Fulfilment Coordination Service service.

Override methods of ``OrderManagementAndFulfilmentCoordinationSerServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import OrderManagementAndFulfilmentCoordinationSerServiceBase


class Service(OrderManagementAndFulfilmentCoordinationSerServiceBase):
    """Order Management And Fulfilment Coordination Service: Takes, tracks and fulfils every wholesale order of the network

    Dependencies available as attributes:
    ``self.inventory_reservation_and_allocation_service_of_grpc_client`` (InventoryReservationAndAllocationServiceOf),
    ``self.external_payment_service_provider_with_card_and_client`` (ExternalPaymentServiceProviderWithCardAnd),
    ``self.order_history_and_audit_trail_database_of_every_repository`` (OrderHistoryAndAuditTrailDatabaseOfEvery),
    ``self.order_lifecycle_events_topic_shared_by_every_dow_order_lifecycle_events_with_all_line_items_and_p_producer`` (OrderLifecycleEventsTopicSharedByEveryDow),
    ``self.rabbitmq_order_confirmation_and_shipping_notification_req_producer`` (RabbitmqOrderConfirmationAndShippingNotific),
    ``self.legacy_enterprise_resource_planning_mainframe_in_client`` (LegacyEnterpriseResourcePlanningMainframeIn),
    ``self.external_tax_calculation_service_for_cross_borde_grpc_client`` (ExternalTaxCalculationServiceForCrossBorde).
    """

    # Example, calling a dependency from a handler:
    #
    # def places_new_wholesale_orders_with_delivery_prefer(self, request: PlacesNewWholesaleOrdersWithDeliveryPreferRequest) -> PlacesNewWholesaleOrdersWithDeliveryPreferResponse:
    #     ...  # use self.inventory_reservation_and_allocation_service_of_grpc_client
    #     return PlacesNewWholesaleOrdersWithDeliveryPreferResponse(operation="places_new_wholesale_orders_with_delivery_prefer", data=request.payload)
