# created by c4forge from long_names_components.puml:9 (component forecast_report_rendering_and_distribution_component "Forecast Report Rendering And Distribution Component").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the component Forecast Report Rendering And Distribution Component (Sales Reporting And Forecasting Service For Regional Managers).

Override methods of ``ForecastReportRenderingAndDistributionCompoBase`` (``components/forecast_report_rendering_and_distribution_compo.py``, regenerated from the diagram).
"""

from __future__ import annotations

from ..components.forecast_report_rendering_and_distribution_compo import (
    ForecastReportRenderingAndDistributionCompoBase,
)


class ForecastReportRenderingAndDistributionCompo(
    ForecastReportRenderingAndDistributionCompoBase,
):
    """Forecast Report Rendering And Distribution Component"""
