# created by c4forge from C4_Component Diagram Sample - bigbankplc.puml:19 (component security "Security Component").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the component Security Component (API Application).

Override methods of ``SecurityComponentBase`` (``components/security_component.py``, regenerated from the diagram).
"""

from __future__ import annotations

from ..components.security_component import SecurityComponentBase


class SecurityComponent(SecurityComponentBase):
    """Security Component: Provides functionality related to singing in, changing passwords, etc."""
