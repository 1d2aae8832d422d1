"""The unsubscribe route, the same in Saleor and in the sandbox.

- GET shows a page with one button; it changes nothing, because mail scanners and
  link previews open every link in a message.
- POST unsubscribes: the page's button, or a mail client's RFC 8058 one-click POST
  (body ``List-Unsubscribe=One-Click``) to the ``List-Unsubscribe`` URL. Neither can
  carry a CSRF token; the signed token is what authorises it.
- A forged or expired token gets a page saying so (400) and changes nothing; a
  customer deleted since gets the same confirmation as everyone else, and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from html import escape
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from ..host import Host
from .base import option_from
from .unsubscribe import BadToken, opt_out, read_token

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem">
<h1>{title}</h1>
{body}
</body></html>"""

CONFIRM = "Unsubscribe from marketing e-mails?"
DONE = "You are unsubscribed"
INVALID = "This link does not work"


def _page(title: str, body: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(_PAGE.format(title=escape(title), body=body), status=status,
                            content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response


def unsubscribe_view(
    request: HttpRequest,
    host: Host,
    settings: Mapping[str, Any],
    clock: Callable[[], datetime] = timezone.now,
) -> HttpResponse:
    if request.method not in ("GET", "POST"):
        response = _page(INVALID, "<p>Open the link from your e-mail.</p>", status=405)
        response["Allow"] = "GET, POST"
        return response
    token = request.GET.get("token", "")
    try:
        recipient = read_token(token, option_from(settings, "unsubscribe_link_valid_days"))
    except BadToken as error:
        return _page(INVALID, f"<p>{escape(str(error).capitalize())}. Nothing was changed. To stop "
                              "marketing e-mails, use the link in a more recent message, or contact the shop.</p>",
                     status=400)
    if request.method == "GET":
        return _page(CONFIRM, f'<form method="post" action="?token={escape(token)}">'
                              '<button type="submit">Unsubscribe</button></form>'
                              "<p>You will still receive messages about your orders.</p>")
    one_click = request.POST.get("List-Unsubscribe") == "One-Click"
    opt_out(recipient, "one_click" if one_click else "page", clock(), host, settings)
    return _page(DONE, "<p>You will get no more marketing e-mails from us. Messages about your orders "
                       "still reach you.</p>")
