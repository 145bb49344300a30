# created by c4forge from C4_Container Diagram Sample - message bus.puml:14 (container customer_service "Customer Service").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Customer Service service.

Override methods of ``CustomerServiceServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import CustomerServiceServiceBase


class Service(CustomerServiceServiceBase):
    """Customer Service: The point of access for customer information

    Dependencies available as attributes:
    ``self.customer_application_gateway`` (CustomerApplicationGateway),
    ``self.message_bus_customer_update_events_producer`` (MessageBusCustomerUpdateEventsProducer),
    ``self.customer_database_repository`` (CustomerDatabaseRepository).
    """

    # Example, calling a dependency from a handler:
    #
    # def updates_customer_information_using(self, request: UpdatesCustomerInformationUsingRequest) -> UpdatesCustomerInformationUsingResponse:
    #     ...  # use self.customer_application_gateway
    #     return UpdatesCustomerInformationUsingResponse(operation="updates_customer_information_using", data=request.payload)
