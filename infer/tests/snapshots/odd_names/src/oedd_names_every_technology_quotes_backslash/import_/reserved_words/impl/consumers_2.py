# created by c4forge from odd/../../names.puml:41 (component consumers "Consumers").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the component Consumers (Reserved Words).

Override methods of ``Consumers2Base`` (``components/consumers_2.py``, regenerated from the diagram).
"""

from __future__ import annotations

from ..components.consumers_2 import Consumers2Base


class Consumers2(Consumers2Base):
    """Consumers: Named like the Dependencies API"""
