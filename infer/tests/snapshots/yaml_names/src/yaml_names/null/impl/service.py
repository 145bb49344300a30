# created by c4forge from yaml_names.puml:5 (container n "null").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the null service.

Override methods of ``NullServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import NullServiceBase


class Service(NullServiceBase):
    """null: Named null"""
