"""The management commands (tests/contract/command_contract.py) on Saleor's tables."""

from . import require_saleor

require_saleor()

import pytest  # noqa: E402

from tests.contract.command_contract import CommandContract  # noqa: E402


@pytest.mark.django_db
@pytest.mark.usefixtures("lifecycle_plugin")
class TestCommandsOnSaleor(CommandContract):
    @pytest.fixture
    def store(self, saleor_store):
        return saleor_store
