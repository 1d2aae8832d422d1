# The benchmarks reuse the Saleor test set-up of tests/saleor (settings, fixtures, the plugin switched on).
from tests.saleor.conftest import pytest_plugins  # noqa: F401
