"""Where the running process gets its host and engine.

The host class is the Django setting ``LIFECYCLE_HOST`` (a dotted path). Inside
Saleor it defaults to the Saleor host, elsewhere to the sandbox host. The host
also knows where the store owner's settings live (Saleor: the plugin's
configuration row; sandbox: ``LIFECYCLE_SETTINGS`` in Django settings).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.apps import apps
from django.conf import settings as django_settings
from django.utils.module_loading import import_string

from .conf import load_settings
from .engine import LifecycleEngine
from .host import Host

SALEOR_HOST = "lifecycle_plugin.saleor.host.SaleorHost"
SANDBOX_HOST = "lifecycle_plugin.sandbox.host.SandboxHost"


def host_path() -> str:
    default = SALEOR_HOST if apps.is_installed("saleor.account") else SANDBOX_HOST
    return getattr(django_settings, "LIFECYCLE_HOST", default)


def get_host() -> Host:
    return import_string(host_path())()


def owner_settings(host: Host) -> Mapping[str, Any]:
    """The store owner's raw settings, as strings, from wherever the host keeps them."""
    reader = getattr(host, "plugin_settings", None)
    if reader is not None:
        return reader()
    return getattr(django_settings, "LIFECYCLE_SETTINGS", {})


def is_enabled(host: Host) -> bool:
    """Whether the store owner has switched the plugin on (always, for hosts without a switch)."""
    switch = getattr(host, "plugin_active", None)
    return switch() if switch is not None else True


def get_engine(host: Host | None = None, *, defaults: Mapping[str, Any] | None = None,
               **engine_options: Any) -> LifecycleEngine:
    """An engine for this process's host with the owner's current settings.

    `defaults` stand in for settings the owner has not given (the sandbox demo uses it
    to switch the actions on).
    """
    host = host or get_host()
    loaded = load_settings({**(defaults or {}), **owner_settings(host)})
    return LifecycleEngine(host, loaded.config, settings=loaded.values, **engine_options)


def allow_writer() -> AbstractContextManager:
    """Saleor's guard that permits writes to the primary database in Celery tasks.

    Saleor's task class refuses (in tests) or logs (in production) writes made
    outside it; elsewhere there is no such guard.
    """
    try:
        from saleor.core.db.connection import allow_writer as saleor_allow_writer
    except ImportError:
        return nullcontext()
    return saleor_allow_writer()
