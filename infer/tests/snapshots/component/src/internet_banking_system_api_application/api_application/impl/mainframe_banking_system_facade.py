# created by c4forge from C4_Component Diagram Sample - bigbankplc.puml:20 (component mbsfacade "Mainframe Banking System Facade").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the component Mainframe Banking System Facade (API Application).

Override methods of ``MainframeBankingSystemFacadeBase`` (``components/mainframe_banking_system_facade.py``, regenerated from the diagram).
"""

from __future__ import annotations

from ..components.mainframe_banking_system_facade import (
    MainframeBankingSystemFacadeBase,
)


class MainframeBankingSystemFacade(MainframeBankingSystemFacadeBase):
    """Mainframe Banking System Facade: A facade onto the mainframe banking system."""
