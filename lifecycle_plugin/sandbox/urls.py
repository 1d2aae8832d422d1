from django.urls import path

from django.views.decorators.csrf import csrf_exempt

from lifecycle_plugin.actions.unsubscribe_page import unsubscribe_view
from lifecycle_plugin.runtime import get_engine
from lifecycle_plugin.sandbox.auth import sandbox_graphql_view
from lifecycle_plugin.sandbox.dashboard import login_view, pages_view, shell_view, token_view
from lifecycle_plugin.sandbox.graphiql import vendor_view


@csrf_exempt  # a mail client's one-click POST carries no CSRF token; the signed token authorises it
def sandbox_unsubscribe_view(request):
    engine = get_engine()
    return unsubscribe_view(request, engine.host, engine.settings)


urlpatterns: list = [
    # The lifecycle GraphQL API with GraphiQL (the same schema Saleor serves at
    # /plugins/global/saleor.lifecycle/graphql/); tokens: sandbox/auth.py.
    path("graphql/", sandbox_graphql_view, name="lifecycle-graphql"),
    # The link in every marketing message (lifecycle_plugin/actions/unsubscribe_page.py).
    path("unsubscribe/", sandbox_unsubscribe_view, name="lifecycle-unsubscribe"),
    # The lifecycle pages with a local login standing in for the Dashboard (sandbox/dashboard.py).
    path("dashboard/", shell_view, name="lifecycle-dashboard"),
    path("dashboard/login/", login_view),
    path("dashboard/token/", token_view),
    path("dashboard/<str:name>", shell_view),
    path("app/", pages_view),
    path("app/<path:path>", pages_view),
    # GraphiQL's vendored scripts (nothing from a CDN).
    path("static/vendor/<path:name>", vendor_view),
]
