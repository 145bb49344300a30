# created by c4forge from C4_Component Diagram Sample - bigbankplc.puml:16 (container boundary api "API Application").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the API Application service.

Override methods of ``ApiApplicationServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import ApiApplicationServiceBase


class Service(ApiApplicationServiceBase):
    """API Application

    Dependencies available as attributes:
    ``self.database_repository`` (DatabaseRepository),
    ``self.mainframe_banking_system_client`` (MainframeBankingSystemClient).
    """
