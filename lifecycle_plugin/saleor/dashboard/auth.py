"""Who is calling the pages' API: only the Dashboard's app tokens for this App.

The Dashboard hands a page a short-lived JWT that Saleor minted for one App and one
staff user (`create_access_token_for_app`, or `..._for_app_extension` for a widget or
popup). Its `permissions` claim is the user's permissions ∩ the App's (∩ the
extension's): that claim, and nothing else, decides what the page may do. Checked here
with Saleor's own functions (SALEOR_NOTES §15.3):

1. `jwt_decode`: the signature (and the expiry, also where 3.21/3.22 leave it to
   the JWT_EXPIRE setting: a page never accepts an expired token);
2. type "thirdparty", minted for the installed, active App of `registration`;
3. `get_user_from_access_payload`: an active user whose token key still matches (a
   password change or "log out everywhere" ends the page's session too), and staff.

A storefront's customer token, a staff member's own access token, a token for another
app: all refused with an `AuthError`, which the GraphQL view answers as UNAUTHENTICATED.
"""

from __future__ import annotations

import time

import jwt
from graphene import Node
from saleor.core.auth import get_token_from_request
from saleor.core.jwt import (
    APP_KEY_FIELD,
    JWT_THIRDPARTY_ACCESS_TYPE,
    PERMISSIONS_FIELD,
    get_user_from_access_payload,
    is_saleor_token,
    jwt_decode,
)

from ...graphql.viewer import AuthError, Viewer
from .manifest import MANAGE_PLUGINS, MANAGE_USERS
from .registration import registered_app


def authenticate_dashboard(request) -> Viewer:
    token = get_token_from_request(request)
    if not token:
        raise AuthError("Open this page in the Saleor Dashboard: it needs the Dashboard's app token.")
    payload = _verified_payload(token)
    if payload.get("type") != JWT_THIRDPARTY_ACCESS_TYPE:
        raise AuthError("This is not an app token: the lifecycle pages accept only the Dashboard's token for their app.")
    app = registered_app()
    if app is None or not app.is_active:
        raise AuthError("The lifecycle app is not installed or is switched off in Saleor.")
    if payload.get(APP_KEY_FIELD) != Node.to_global_id("App", app.pk):
        raise AuthError("The token was minted for another app.")
    try:
        user = get_user_from_access_payload(payload, request)
    except jwt.PyJWTError as exc:
        raise AuthError(f"The app token was refused: {exc}") from exc
    if user is None or not user.is_active or not user.is_staff:
        raise AuthError("The app token belongs to no active staff member.")
    granted = set(payload.get(PERMISSIONS_FIELD) or ())
    return Viewer.staff(user.pk, user.email, can_manage_users=MANAGE_USERS in granted,
                        can_manage_plugins=MANAGE_PLUGINS in granted)


def _verified_payload(token: str) -> dict:
    if not is_saleor_token(token):
        raise AuthError("The token was not issued by this Saleor.")
    try:
        payload = jwt_decode(token)
    except jwt.PyJWTError as exc:
        raise AuthError(f"The app token was refused: {exc}") from exc
    if not isinstance(payload.get("exp"), int | float) or payload["exp"] <= time.time():
        raise AuthError("The app token has expired; the Dashboard sends a fresh one.")
    return payload
