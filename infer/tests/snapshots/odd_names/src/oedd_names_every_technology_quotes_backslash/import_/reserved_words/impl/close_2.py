# created by c4forge from odd/../../names.puml:42 (component closer "close").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the component close (Reserved Words).

Override methods of ``Close2Base`` (``components/close_2.py``, regenerated from the diagram).
"""

from __future__ import annotations

from ..components.close_2 import Close2Base


class Close2(Close2Base):
    """close: Named like a method"""
