# created by c4forge from odd/../../names.puml:6 (container svc_dup "1st-Service").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the 1st-Service service.

Override methods of ``Service1stServiceServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import Service1stServiceServiceBase


class Service(Service1stServiceServiceBase):
    """1st-Service: Collides with 1st Service"""
