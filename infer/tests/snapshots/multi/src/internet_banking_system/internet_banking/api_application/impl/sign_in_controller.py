# created by c4forge from C4_Component Diagram Sample - bigbankplc.puml:17 (component sign "Sign In Controller").
# This file is yours: c4forge creates it once and never overwrites it.
"""Your implementation of the component Sign In Controller (API Application).

Override methods of ``SignInControllerBase`` (``components/sign_in_controller.py``, regenerated from the diagram).
"""

from __future__ import annotations

from ..components.sign_in_controller import SignInControllerBase


class SignInController(SignInControllerBase):
    """Sign In Controller: Allows users to sign in to the internet banking system"""
