# created by c4forge from long_names.puml:11 (container loyalty_points_and_membership_tier_calculation_service "Loyalty Points And Membership Tier Calculation Service").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the Loyalty Points And Membership Tier Calculation Service service.

Override methods of ``LoyaltyPointsAndMembershipTierCalculationSServiceBase`` (``service_base.py``, regenerated from the
diagram) to implement behaviour; its constructor receives the clients, repositories and
producers the diagram says this service uses.
"""

from __future__ import annotations

from ..service_base import LoyaltyPointsAndMembershipTierCalculationSServiceBase


class Service(LoyaltyPointsAndMembershipTierCalculationSServiceBase):
    """Loyalty Points And Membership Tier Calculation Service: Points and tiers"""
