# created by c4forge from C4_Component Diagram Sample - bigbankplc.puml:18 (component accounts "Accounts Summary Controller").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the component Accounts Summary Controller (API Application).

Override methods of ``AccountsSummaryControllerBase`` (``components/accounts_summary_controller.py``, regenerated from the diagram).
"""

from __future__ import annotations

from ..components.accounts_summary_controller import AccountsSummaryControllerBase


class AccountsSummaryController(AccountsSummaryControllerBase):
    """Accounts Summary Controller: Provides customers with a summary of their bank accounts"""
