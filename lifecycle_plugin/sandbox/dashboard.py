"""The lifecycle pages on the sandbox, with a local login standing in for the Saleor Dashboard.

``lifecycle-sandbox serve`` answers:

- ``/dashboard/``: a small shell that plays the Dashboard's part. It asks for the sandbox
  owner's user name and password (``serve`` prints them), then frames the pages and speaks
  the Dashboard's AppBridge to them: ``handshake {token}`` on load and after ``notifyReady``,
  ``tokenRefresh`` about 30 seconds before the token expires, ``theme``;
- ``/dashboard/login/`` and ``/dashboard/token/``: the local login (a short-lived access token
  and a refresh token, both signed with the sandbox's secret key);
- ``/app/…``: the same pages and API as on Saleor (graphql/pages.py), for these tokens.

Permissions mirror Saleor's: a staff account reads (MANAGE_USERS, see sandbox/auth.py);
a superuser also changes settings (the sandbox's stand-in for MANAGE_PLUGINS).
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

from django.contrib.auth import authenticate, get_user_model
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from ..graphql.pages import CONTENT_SECURITY_POLICY, handle_pages_request, static_response
from ..graphql.viewer import AuthError, Viewer
from .auth import MANAGE_USERS_PERMISSION

ACCESS_SALT = "lifecycle_plugin.sandbox.pages_access"
REFRESH_SALT = "lifecycle_plugin.sandbox.pages_refresh"
#: As Saleor's app tokens (JWT_TTL_APP_ACCESS).
ACCESS_MAX_AGE = 300
REFRESH_MAX_AGE = 8 * 3600
#: The shell frames the pages (same origin) and so needs frame-src; the rest is the pages' policy.
SHELL_CSP = CONTENT_SECURITY_POLICY + "; frame-src 'self'"
SHELL_FILES = {"shell.js": "text/javascript; charset=utf-8", "shell.css": "text/css; charset=utf-8"}


def issue_pages_token(user, salt: str = ACCESS_SALT) -> str:
    return signing.dumps({"user_id": user.pk}, salt=salt)


def _user_of(token: str, salt: str, max_age: int):
    try:
        payload = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        raise AuthError("The page's token has expired; the Dashboard sends a fresh one.") from None
    except signing.BadSignature:
        raise AuthError("The page's token is not valid for this server.") from None
    user = get_user_model().objects.filter(pk=payload.get("user_id"), is_active=True).first()
    if user is None or not user.is_staff:
        raise AuthError("The token belongs to no active staff member.")
    return user


def authenticate_pages(request: HttpRequest) -> Viewer:
    """Only the shell's access tokens; no token is refused (the pages never run anonymously)."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Open this page from the sandbox's dashboard (/dashboard/): it needs its sign-in.")
    user = _user_of(token.strip(), ACCESS_SALT, ACCESS_MAX_AGE)
    return Viewer.staff(user.pk, user.email, can_manage_users=user.has_perm(MANAGE_USERS_PERMISSION),
                        can_manage_plugins=user.is_superuser)


def pages_view(request: HttpRequest, path: str = "") -> HttpResponse:
    response = handle_pages_request(request, path, authenticate_pages)
    if response is None:
        raise Http404("No such page.")
    return response


def _grant(user) -> dict:
    return {"token": issue_pages_token(user), "expiresIn": ACCESS_MAX_AGE,
            "refreshToken": issue_pages_token(user, REFRESH_SALT), "email": user.email}


@csrf_exempt  # JSON only, same origin (checked below); no cookie is involved
def login_view(request: HttpRequest) -> HttpResponse:
    body = _json_post(request)
    if isinstance(body, HttpResponse):
        return body
    user = authenticate(username=str(body.get("username", "")), password=str(body.get("password", "")))
    if user is None or not user.is_active or not user.is_staff:
        return JsonResponse({"error": "Wrong user name or password, or not a staff account."}, status=401)
    return JsonResponse(_grant(user))


@csrf_exempt
def token_view(request: HttpRequest) -> HttpResponse:
    body = _json_post(request)
    if isinstance(body, HttpResponse):
        return body
    try:
        user = _user_of(str(body.get("refreshToken", "")), REFRESH_SALT, REFRESH_MAX_AGE)
    except AuthError as error:
        return JsonResponse({"error": error.message}, status=401)
    return JsonResponse(_grant(user))


def _json_post(request: HttpRequest):
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.get_host()}":
        return JsonResponse({"error": "Sign in from this server's own page."}, status=403)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "The request body is not JSON."}, status=400)
    return body if isinstance(body, dict) else JsonResponse({"error": "Send a JSON object."}, status=400)


def shell_view(request: HttpRequest, name: str = "") -> HttpResponse:
    if name == "":
        return static_response(_shell("shell.html"), "text/html; charset=utf-8", request, csp=SHELL_CSP)
    if name in SHELL_FILES:
        return static_response(_shell(name), SHELL_FILES[name], request, csp=SHELL_CSP)
    raise Http404("No such file.")


@cache
def _shell(name: str) -> str:
    return files(__package__).joinpath("static", "shell", name).read_text(encoding="utf-8")
