"""The host contract (tests/contract/host_contract.py) on the Saleor host, with Saleor's own rows."""

from . import require_saleor

require_saleor()

import pytest  # noqa: E402

from lifecycle_plugin.saleor.host import SaleorHost  # noqa: E402
from tests.contract.host_contract import HostContract  # noqa: E402


class TestSaleorHost(HostContract):
    @pytest.fixture
    def host(self):
        return SaleorHost()

    @pytest.fixture
    def store(self, saleor_store):
        return saleor_store


# Order products need Saleor's product rows: this optional method is tested here only.


@pytest.mark.django_db
def test_order_products(order_with_lines):
    import graphene

    order_id = str(order_with_lines.pk)
    lines = list(order_with_lines.lines.order_by("created_at", "id"))

    products = SaleorHost().order_products([order_id, "not-an-id", "00000000-0000-0000-0000-000000000000"])

    assert list(products) == [order_id]
    assert [(p.name, p.quantity, p.sku) for p in products[order_id]] == [
        (line.product_name, line.quantity, line.product_sku) for line in lines
    ]
    assert products[order_id][0].product_id == graphene.Node.to_global_id("Product", lines[0].variant.product_id)
