# created by c4forge from long_names.puml:7 (container inventory_reservation_and_allocation_service_of_every_warehouse "Inventory Reservation And Allocation Service Of Every Regional Warehouse").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Inventory Reservation And Allocation Service Of Every Regional Warehouse service.

Override methods of ``InventoryReservationAndAllocationServiceOfServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import InventoryReservationAndAllocationServiceOfServiceBase


class Service(InventoryReservationAndAllocationServiceOfServiceBase):
    """Inventory Reservation And Allocation Service Of Every Regional Warehouse: Stock levels and reservations"""
