# created by c4forge from C4_Container Diagram Sample - message bus.puml:16 (container reporting_service "Reporting Service").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Reporting Service service.

Override methods of ``ReportingServiceServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import ReportingServiceServiceBase


class Service(ReportingServiceServiceBase):
    """Reporting Service: Creates normalised data for reporting purposes

    Dependencies available as attributes:
    ``self.reporting_database_repository`` (ReportingDatabaseRepository).
    """
