# created by c4forge from C4_Deployment Diagram Sample - bigbankplc.puml:42 (container spa "Single Page Application").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Single Page Application service.

Override methods of ``SinglePageApplicationServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import SinglePageApplicationServiceBase


class Service(SinglePageApplicationServiceBase):
    """Single Page Application: Provides all of the Internet Banking functionality to customers via their web browser.

    Dependencies available as attributes:
    ``self.api_application_client`` (ApiApplicationClient).
    """

    # Example, calling a dependency from a handler:
    #
    # def delivers_to_the_customer_s_web_browser(self, request: DeliversToTheCustomerSWebBrowserRequest) -> DeliversToTheCustomerSWebBrowserResponse:
    #     ...  # use self.api_application_client
    #     return DeliversToTheCustomerSWebBrowserResponse(operation="delivers_to_the_customer_s_web_browser", data=request.payload)
