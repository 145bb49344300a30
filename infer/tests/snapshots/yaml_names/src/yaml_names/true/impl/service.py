# created by c4forge from yaml_names.puml:4 (container t "true").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the true service.

Override methods of ``True_ServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import True_ServiceBase


class Service(True_ServiceBase):
    """true: Named true

    Dependencies available as attributes:
    ``self.null_client`` (NullClient),
    ``self.no_repository`` (NoRepository),
    ``self.false_things_producer`` (FalseThingsProducer).
    """
