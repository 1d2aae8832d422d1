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


def test_the_periodic_jobs_are_in_saleors_beat_schedule():
    pytest.importorskip("saleor", reason=NO_SALEOR)
    if not saleor_settings_in_use():
        pytest.skip(NOT_SALEOR_SETTINGS)
    from datetime import timedelta

    from django.conf import settings
    from saleor.celeryconf import app
    from saleor.core.tasks import RestrictWriterDBTask

    from lifecycle_plugin.apps import beat_schedule

    app.loader.import_default_modules()  # what a worker and beat do at start: autodiscovery
    schedule = beat_schedule()
    # The sweep, due actions and daily tick, and the inbox's drain every minute: it takes
    # the events whose own drain was lost (a broker hiccup, the race in engine/inbox.py).
    assert {
        "lifecycle_plugin.drain_events", "lifecycle_plugin.sweep", "lifecycle_plugin.run_due_actions",
        "lifecycle_plugin.daily_tick",
    } <= {entry["task"] for entry in schedule.values()}
    drain = schedule["lifecycle-drain-events"]
    assert drain["task"] == "lifecycle_plugin.drain_events" and drain["schedule"] == timedelta(minutes=1)
    assert drain["options"]["expires"] <= 60  # a drain beat could not deliver is not piled up
    for name, entry in schedule.items():
        # Registered by the app's ready() in the dict Saleor's beat reads ...
        assert settings.CELERY_BEAT_SCHEDULE[name]["task"] == entry["task"]
        assert app.conf.beat_schedule[name]["task"] == entry["task"]
        # ... naming a task that Saleor's worker knows, under Saleor's writer guard.
        assert entry["task"] in app.tasks
        assert isinstance(app.tasks[entry["task"]], RestrictWriterDBTask)
    # Saleor's own entries are still there.
    assert "expire-orders" in settings.CELERY_BEAT_SCHEDULE
