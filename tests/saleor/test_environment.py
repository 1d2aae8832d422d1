"""Always collected, so `python -m pytest tests/saleor` outside a Saleor environment
reports a skip (exit 0) rather than "no tests"; inside Saleor it checks the plugin's
discovery through its entry point (SALEOR_NOTES §1)."""

import pytest

from . import NO_SALEOR, NOT_SALEOR_SETTINGS, saleor_settings_in_use


def test_saleor_discovers_the_plugin_through_its_entry_point():
    pytest.importorskip("saleor", reason=NO_SALEOR)
    if not saleor_settings_in_use():
        pytest.skip(NOT_SALEOR_SETTINGS)
    from django.conf import settings

    assert "lifecycle_plugin" in settings.INSTALLED_APPS
    assert "lifecycle_plugin.plugin.LifecyclePlugin" in settings.EXTERNAL_PLUGINS
