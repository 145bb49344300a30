# created by c4forge from long_names_components.puml:7 (component quarterly_sales_forecast_calculation_component_with_seasonal_adjustment "Quarterly Sales Forecast Calculation Component With Seasonal Adjustment").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the component Quarterly Sales Forecast Calculation Component With Seasonal Adjustment (Sales Reporting And Forecasting Service For Regional Managers).

Override methods of ``QuarterlySalesForecastCalculationComponentWBase`` (``components/quarterly_sales_forecast_calculation_component_w.py``, regenerated from the diagram).
"""

from __future__ import annotations

from ..components.quarterly_sales_forecast_calculation_component_w import (
    QuarterlySalesForecastCalculationComponentWBase,
)


class QuarterlySalesForecastCalculationComponentW(
    QuarterlySalesForecastCalculationComponentWBase,
):
    """Quarterly Sales Forecast Calculation Component With Seasonal Adjustment"""
