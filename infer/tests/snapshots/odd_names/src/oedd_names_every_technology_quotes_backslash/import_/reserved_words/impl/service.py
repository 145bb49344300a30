# created by c4forge from odd/../../names.puml:40 (container boundary cb "Reserved Words").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Reserved Words service.

Override methods of ``ReservedWordsServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import ReservedWordsServiceBase


class Service(ReservedWordsServiceBase):
    """Reserved Words"""
