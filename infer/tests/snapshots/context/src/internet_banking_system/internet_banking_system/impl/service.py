# created by c4forge from C4_Context Diagram Sample - bigbankplc.puml:7 (system banking_system "Internet Banking System").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Internet Banking System service.

Override methods of ``InternetBankingSystemServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import InternetBankingSystemServiceBase


class Service(InternetBankingSystemServiceBase):
    """Internet Banking System: Allows customers to view information about their bank accounts, and make payments.

    Dependencies available as attributes:
    ``self.e_mail_system_gateway`` (EMailSystemGateway),
    ``self.mainframe_banking_system_client`` (MainframeBankingSystemClient).
    """

    # Example, calling a dependency from a handler:
    #
    # def uses(self, request: UsesRequest) -> UsesResponse:
    #     ...  # use self.e_mail_system_gateway
    #     return UsesResponse(operation="uses", data=request.payload)
