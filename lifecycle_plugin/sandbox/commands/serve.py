"""`lifecycle-sandbox serve`: the lifecycle GraphQL API with GraphiQL, on this machine, with tokens to try it."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from urllib.parse import urlsplit

from .common import Out, migrate


def explorer_tokens() -> dict[str, str]:
    """Bearer tokens to try the GraphQL API with: a staff member with MANAGE_USERS and a customer."""
    from django.contrib.auth.models import Permission, User

    from ...models import CustomerProfile
    from ..auth import issue_sandbox_token

    staff, _ = User.objects.get_or_create(
        username="sandbox-staff", defaults={"email": "staff@sandbox.example", "is_staff": True}
    )
    # The sandbox's stand-in for Saleor's MANAGE_USERS (see sandbox/auth.py).
    staff.user_permissions.add(Permission.objects.get(codename="change_user", content_type__app_label="auth"))
    tokens = {"staff (MANAGE_USERS)": issue_sandbox_token(staff)}
    customer = CustomerProfile.objects.filter(user__isnull=False).select_related("user").order_by("id").first()
    if customer is not None:
        tokens[f"customer {customer.user.email} ({customer.stage})"] = issue_sandbox_token(customer.user)
    return tokens


def dashboard_login() -> tuple[str, str]:
    """The sandbox owner's local login for the pages (/dashboard/): a superuser, a fresh password each start.

    LIFECYCLE_SANDBOX_PASSWORD keeps the password fixed instead.
    """
    import secrets

    from django.contrib.auth.models import User

    owner, _ = User.objects.get_or_create(
        username="owner", defaults={"email": "owner@sandbox.example", "is_staff": True, "is_superuser": True}
    )
    password = os.environ.get("LIFECYCLE_SANDBOX_PASSWORD") or secrets.token_urlsafe(12)
    owner.set_password(password)
    owner.is_staff = owner.is_superuser = owner.is_active = True
    owner.save()
    return owner.username, password


def parse_origin(text: str) -> str:
    """An exact web origin, ``scheme://host[:port]``, as browsers send it in ``Origin``."""
    parts = urlsplit(text.strip())
    if text.strip() in ("*", "null") or parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not an origin such as http://localhost:3000")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise argparse.ArgumentTypeError(f"{text!r}: an origin is only scheme://host[:port], without a path")
    return f"{parts.scheme}://{parts.netloc}".lower()


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything


def cmd_serve(args, out: Out) -> int:
    from django.conf import settings
    from django.core.management import call_command

    if not is_loopback(args.host):
        print(f"lifecycle-sandbox: WARNING: --host {args.host} is not a loopback address: anyone who can reach "
              "it can call the GraphQL API, and the printed tokens give a staff member's access to every "
              "customer. The sandbox is meant for 127.0.0.1.", file=sys.stderr, flush=True)
    # Read per request by the GraphQL view (graphql/views.py): the server's own pages,
    # and only these other origins, may read its answers.
    settings.ALLOWED_GRAPHQL_ORIGINS = list(args.cors_origin)
    migrate()
    address = f"{args.host}:{args.port}"
    if not os.environ.get("LIFECYCLE_PUBLIC_URL"):  # unsubscribe links in messages point at this server
        settings.LIFECYCLE_PUBLIC_URL = f"http://{address}/"
    username, password = dashboard_login()
    out(f"Lifecycle pages: http://{address}/dashboard/  (sign in as {username}, password {password})")
    out(f"GraphiQL: http://{address}/graphql/  (put a header {{\"Authorization\": \"Bearer <token>\"}})")
    for who, token in explorer_tokens().items():
        out(f"  {who}: {token}")
    call_command("runserver", address, use_reloader=False)
    return 0
