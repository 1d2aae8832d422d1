"""The sandbox's plugin settings: Django's ``LIFECYCLE_SETTINGS`` with what the owner saved
(the settings page, `lifecycle-sandbox settings`) over it."""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings as django_settings
from django.db import transaction

from .models import StoredSetting


class SandboxSavedSettings:
    """Host methods `plugin_settings` and `save_plugin_settings` for the sandbox."""

    def plugin_settings(self) -> dict:
        saved = dict(StoredSetting.objects.values_list("name", "value"))
        return {**getattr(django_settings, "LIFECYCLE_SETTINGS", {}), **saved}

    def save_plugin_settings(self, values: Mapping[str, str]) -> None:
        with transaction.atomic():
            StoredSetting.objects.all().delete()
            StoredSetting.objects.bulk_create(StoredSetting(name=name, value=value) for name, value in values.items())
