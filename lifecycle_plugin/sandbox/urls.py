from django.urls import path

from lifecycle_plugin.sandbox.auth import sandbox_graphql_view

urlpatterns: list = [
    # The lifecycle GraphQL API with GraphiQL (the same schema Saleor serves at
    # /plugins/global/saleor.lifecycle/graphql/); tokens: sandbox/auth.py.
    path("graphql/", sandbox_graphql_view, name="lifecycle-graphql"),
]
