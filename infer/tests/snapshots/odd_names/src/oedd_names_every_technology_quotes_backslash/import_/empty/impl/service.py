# created by c4forge from odd/../../names.puml:11 (container empty "empty").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the empty service.

Override methods of ``EmptyServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import EmptyServiceBase


class Service(EmptyServiceBase):
    """empty"""
