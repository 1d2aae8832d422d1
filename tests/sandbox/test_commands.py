"""The management commands (tests/contract/command_contract.py) on the sandbox host."""

import pytest

from tests.contract.command_contract import CommandContract
from tests.contract.test_sandbox_host import SandboxStoreAdapter


@pytest.mark.django_db
class TestCommandsOnSandbox(CommandContract):
    @pytest.fixture
    def store(self):
        return SandboxStoreAdapter()
