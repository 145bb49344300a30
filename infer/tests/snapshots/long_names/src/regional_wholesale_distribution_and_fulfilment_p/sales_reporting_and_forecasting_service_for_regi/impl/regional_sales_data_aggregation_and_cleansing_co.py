# created by c4forge from long_names_components.puml:8 (component regional_sales_data_aggregation_and_cleansing_component "Regional Sales Data Aggregation And Cleansing Component").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the component Regional Sales Data Aggregation And Cleansing Component (Sales Reporting And Forecasting Service For Regional Managers).

Override methods of ``RegionalSalesDataAggregationAndCleansingCoBase`` (``components/regional_sales_data_aggregation_and_cleansing_co.py``, regenerated from the diagram).
"""

from __future__ import annotations

from ..components.regional_sales_data_aggregation_and_cleansing_co import (
    RegionalSalesDataAggregationAndCleansingCoBase,
)


class RegionalSalesDataAggregationAndCleansingCo(
    RegionalSalesDataAggregationAndCleansingCoBase,
):
    """Regional Sales Data Aggregation And Cleansing Component"""
