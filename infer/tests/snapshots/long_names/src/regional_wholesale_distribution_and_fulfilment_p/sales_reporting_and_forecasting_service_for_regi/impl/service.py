# created by c4forge from long_names_components.puml:6 (container boundary sales_reporting_and_forecasting_service_for_regional_managers "Sales Reporting And Forecasting Service For Regional Managers").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Sales Reporting And Forecasting Service For Regional Managers service.

Override methods of ``SalesReportingAndForecastingServiceForRegiServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import SalesReportingAndForecastingServiceForRegiServiceBase


class Service(SalesReportingAndForecastingServiceForRegiServiceBase):
    """Sales Reporting And Forecasting Service For Regional Managers

    Dependencies available as attributes:
    ``self.historical_sales_figures_warehouse_of_every_regi_repository`` (HistoricalSalesFiguresWarehouseOfEveryRegi),
    ``self.external_market_research_and_consumer_trends_dat_client`` (ExternalMarketResearchAndConsumerTrendsDat).
    """
