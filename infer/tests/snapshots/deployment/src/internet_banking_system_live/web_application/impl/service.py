# created by c4forge from C4_Deployment Diagram Sample - bigbankplc.puml:31 (container web "Web Application").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Web Application service.

Override methods of ``WebApplicationServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import WebApplicationServiceBase


class Service(WebApplicationServiceBase):
    """Web Application: Delivers the static content and the Internet Banking single page application.

    Dependencies available as attributes:
    ``self.single_page_application_client`` (SinglePageApplicationClient).
    """
