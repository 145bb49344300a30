# created by c4forge from C4_Container Diagram Sample - message bus.puml:17 (container audit_service "Audit Service").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Audit Service service.

Override methods of ``AuditServiceServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import AuditServiceServiceBase


class Service(AuditServiceServiceBase):
    """Audit Service: Provides organisation-wide auditing facilities

    Dependencies available as attributes:
    ``self.audit_store_client`` (AuditStoreClient).
    """
