"""Install, update and remove the Dashboard app in Saleor's own tables.

Saleor's `install_app` fetches the manifest over HTTP (refused for loopback and private
addresses by default), runs in Celery and posts a token to the app; none of that is
needed for an app the plugin serves in Saleor's own process (SALEOR_NOTES §15.2). So
the manifest is validated in-process with Saleor's `clean_manifest_data`, and the App
and its extensions are written as `install_app` writes them: a third-party App (the
Dashboard mints app tokens only for those), its permissions, one AppExtension per
manifest extension with the cleaned (lowercase) mount and target. No AppToken and no
webhook: the pages authenticate with the Dashboard's user-bound tokens.

`remove` deletes the App; Saleor's foreign keys cascade to its extensions and their
permission links, which is everything `install` made. Like Saleor's own install and
delete, both tell Saleor's plugins (and so apps subscribed to APP_INSTALLED and
APP_DELETED webhooks).
"""

from __future__ import annotations

from django.db import transaction

from .manifest import APP_IDENTIFIER, SaleorVersion, build_manifest, validated_manifest


class RegistrationError(Exception):
    """The command cannot do what was asked (e.g. install twice); the message says why."""


def registered_app():
    """The installed Dashboard app, or None."""
    from saleor.app.models import App

    return App.objects.not_removed().filter(identifier=APP_IDENTIFIER).first()


def install(base_url: str, version: SaleorVersion | None = None):
    from saleor.app.models import App
    from saleor.app.types import AppType

    if registered_app() is not None:
        raise RegistrationError(f"The app {APP_IDENTIFIER} is already installed; run `update` to change it.")
    manifest = validated_manifest(build_manifest(base_url, version or SaleorVersion.running()))
    with transaction.atomic():
        app = App.objects.create(
            identifier=APP_IDENTIFIER,
            type=AppType.THIRDPARTY,
            is_active=True,
            is_installed=True,
            **_app_fields(manifest),
        )
        app.permissions.set(manifest["permissions"])
        _create_extensions(app, manifest["extensions"])
    _plugins_manager().app_installed(app)
    return app


def update(base_url: str, version: SaleorVersion | None = None):
    """Bring the installed App's fields, permissions and extensions to the current manifest.

    The App keeps its id, so the Dashboard's links and its active switch stay as they were.
    """
    app = registered_app()
    if app is None:
        raise RegistrationError(f"The app {APP_IDENTIFIER} is not installed; run `install` first.")
    manifest = validated_manifest(build_manifest(base_url, version or SaleorVersion.running()), updating=True)
    with transaction.atomic():
        for field, value in _app_fields(manifest).items():
            setattr(app, field, value)
        app.save(update_fields=list(_app_fields(manifest)))
        app.permissions.set(manifest["permissions"])
        app.extensions.all().delete()
        _create_extensions(app, manifest["extensions"])
    return app


def remove() -> bool:
    """Delete the App and what cascades from it; False when it was not installed."""
    app = registered_app()
    if app is None:
        return False
    with transaction.atomic():
        # Before the delete: the webhooks' payloads are built from the App's row.
        _plugins_manager().app_deleted(app)
        app.delete()
    return True


def _plugins_manager():
    from saleor.plugins.manager import get_plugins_manager

    return get_plugins_manager(allow_replica=False)


def _app_fields(manifest: dict) -> dict:
    return {
        "name": manifest["name"],
        "version": manifest["version"],
        "about_app": manifest.get("about"),
        "app_url": manifest["appUrl"],
    }


def _create_extensions(app, extensions: list[dict]) -> None:
    """One AppExtension per cleaned manifest extension, with the columns this Saleor has."""
    from saleor.app.models import AppExtension

    columns = {field.name for field in AppExtension._meta.get_fields()}
    for data in extensions:
        values = {"app": app, "label": data["label"], "url": data["url"],
                  "mount": data["mount"], "target": data["target"]}
        options = data.get("options") or {}
        if "settings" in columns:  # 3.22+
            values["settings"] = options
        if "http_target_method" in columns:  # 3.22+
            values["http_target_method"] = (options.get("widgetTarget") or {}).get("method")
        if "identifier" in columns:  # 3.23+
            values["identifier"] = data.get("identifier")
        extension = AppExtension.objects.create(**values)
        extension.permissions.set(data.get("permissions", []))
