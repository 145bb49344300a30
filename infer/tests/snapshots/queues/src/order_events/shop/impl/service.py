# created by c4forge from queues.puml:3 (container shop "Shop").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Shop service.

Override methods of ``ShopServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import ShopServiceBase


class Service(ShopServiceBase):
    """Shop: Takes orders

    Dependencies available as attributes:
    ``self.event_bus_order_placed_cart_updated_producer`` (EventBusOrderPlacedCartUpdatedProducer),
    ``self.kafka_cluster_page_clicks_producer`` (KafkaClusterPageClicksProducer),
    ``self.job_queue_invoice_jobs_producer`` (JobQueueInvoiceJobsProducer),
    ``self.audit_queue_audit_records_producer`` (AuditQueueAuditRecordsProducer),
    ``self.billing_client`` (BillingClient).
    """
