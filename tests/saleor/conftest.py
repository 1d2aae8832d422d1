"""Saleor's test fixtures and database set-up, as Saleor's repository-root conftest has them.

That conftest is not part of the installed `saleor` package, so its block is
repeated here. Only under Saleor's test settings: when the whole suite runs from
the project root with the sandbox settings, this conftest is not the top-level
one (where `pytest_plugins` is not allowed) and the modules here skip anyway.
"""

from . import saleor_settings_in_use

if saleor_settings_in_use():
    import pytest

    # The contract is not a test module; have pytest explain its failed asserts too.
    pytest.register_assert_rewrite("tests.contract.host_contract", "tests.contract.command_contract")

    import django.test
    from django.conf import settings
    from saleor.tests.utils import prepare_test_db_connections

    # Saleor reads from a "replica" alias; its tests fake one on the same database.
    django.test.TransactionTestCase.databases = django.test.TestCase.databases = {
        settings.DATABASE_CONNECTION_DEFAULT_NAME,
        settings.DATABASE_CONNECTION_REPLICA_NAME,
    }
    prepare_test_db_connections()

    pytest_plugins = [
        "saleor.tests.fixtures",
        "saleor.app.tests.fixtures",
        "saleor.plugins.tests.fixtures",
        "saleor.graphql.tests.fixtures",
        "saleor.webhook.tests.fixtures",
        "saleor.tax.tests.fixtures",
        "saleor.channel.tests.fixtures",
        "saleor.page.tests.fixtures",
        "saleor.menu.tests.fixtures",
        "saleor.warehouse.tests.fixtures",
        "saleor.thumbnail.tests.fixtures",
        "saleor.order.tests.fixtures",
        "saleor.product.tests.fixtures",
        "saleor.site.tests.fixtures",
        "saleor.shipping.tests.fixtures",
        "saleor.permission.tests.fixtures",
        "saleor.giftcard.tests.fixtures",
        "saleor.discount.tests.fixtures",
        "saleor.checkout.tests.fixtures",
        "saleor.attribute.tests.fixtures",
        "saleor.account.tests.fixtures",
        "saleor.graphql.account.tests.fixtures",
        "saleor.payment.tests.fixtures",
        "saleor.webhook.tests.circuit_breaker.fixtures",
        # Ours: the plugin switched on, notify capture, the StoreAdapter.
        "tests.saleor.fixtures",
    ]
