# created by c4forge from queues.puml:4 (container billing "Billing").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Billing service.

Override methods of ``BillingServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import BillingServiceBase


class Service(BillingServiceBase):
    """Billing: Bills orders"""
