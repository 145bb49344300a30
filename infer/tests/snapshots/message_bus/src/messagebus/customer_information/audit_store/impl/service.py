# created by c4forge from C4_Container Diagram Sample - message bus.puml:20 (container audit_store "Audit Store").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Audit Store service.

Override methods of ``AuditStoreServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import AuditStoreServiceBase


class Service(AuditStoreServiceBase):
    """Audit Store: Stores information about events that have happened"""
