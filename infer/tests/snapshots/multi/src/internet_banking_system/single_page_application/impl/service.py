# created by c4forge from C4_Dynamic Diagram Sample - bigbankplc.puml:7 (container c1 "Single-Page Application").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Single-Page Application service.

Override methods of ``SinglePageApplicationServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import SinglePageApplicationServiceBase


class Service(SinglePageApplicationServiceBase):
    """Single-Page Application: Provides all of the Internet banking functionality to customers via their web browser.

    Dependencies available as attributes:
    ``self.api_application_client`` (ApiApplicationClient).
    """
