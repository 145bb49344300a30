# created by c4forge from odd/../../names.puml:8 (container sink "../../etc/passwd").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the ../../etc/passwd service.

Override methods of ``EtcPasswdServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import EtcPasswdServiceBase


class Service(EtcPasswdServiceBase):
    """../../etc/passwd: Path traversal name

    Dependencies available as attributes:
    ``self.rabbitmq_calls_back_producer`` (RabbitmqCallsBackProducer).
    """
