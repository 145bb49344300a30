# created by c4forge from yaml_names.puml:6 (container y "yes").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the yes service.

Override methods of ``YesServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import YesServiceBase


class Service(YesServiceBase):
    """yes: Named yes

    Dependencies available as attributes:
    ``self.off_client`` (OffClient).
    """
