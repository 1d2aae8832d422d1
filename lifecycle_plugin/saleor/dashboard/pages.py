"""The Dashboard pages under /plugins/global/saleor.lifecycle/app/ (graphql/pages.py), for the Dashboard's app tokens.

Saleor's plugin route calls the plugin's `webhook` only while the plugin is switched on
(it returns Saleor's 404 otherwise), so every path here answers 404 while it is off.
The pages' API accepts only the Dashboard's app tokens for this App (`auth`).
"""

from __future__ import annotations

from django.http import HttpResponse

from ...graphql.pages import handle_pages_request
from .auth import authenticate_dashboard


def handle_app_request(request, path: str) -> HttpResponse | None:
    """The response for a path below ``/app``, or None for Saleor's 404."""
    return handle_pages_request(request, path, authenticate_dashboard)
