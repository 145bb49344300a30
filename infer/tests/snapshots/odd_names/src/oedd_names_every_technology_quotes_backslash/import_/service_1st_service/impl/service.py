# created by c4forge from odd/../../names.puml:5 (container 1st "1st Service").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the 1st Service service.

Override methods of ``Service1stServiceServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import Service1stServiceServiceBase


class Service(Service1stServiceServiceBase):
    """1st Service: Starts with a digit and has a newline

    Dependencies available as attributes:
    ``self.target_1st_service_grpc_client`` (Target1stServiceGrpcClient),
    ``self.buecher_dienst_orders_producer`` (BuecherDienstOrdersProducer),
    ``self.session_cache`` (SessionCache),
    ``self.partner_db_repository`` (PartnerDbRepository),
    ``self.none_client`` (NoneClient),
    ``self.none_gateway`` (NoneGateway),
    ``self.empty_client`` (EmptyClient).
    """

    # Example, calling a dependency from a handler:
    #
    # def def_(self, request: DefRequest) -> DefResponse:
    #     ...  # use self.target_1st_service_grpc_client
    #     return DefResponse(operation="def_", data=request.payload)
