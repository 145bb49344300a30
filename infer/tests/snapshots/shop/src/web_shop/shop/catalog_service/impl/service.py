# created by c4forge from shop.puml:8 (container catalog "Catalog Service").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Catalog Service service.

Override methods of ``CatalogServiceServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import CatalogServiceServiceBase


class Service(CatalogServiceServiceBase):
    """Catalog Service: Products, prices and stock"""
