# created by c4forge from yaml_names.puml:7 (container o "off").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the off service.

Override methods of ``OffServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import OffServiceBase


class Service(OffServiceBase):
    """off: Named off"""
