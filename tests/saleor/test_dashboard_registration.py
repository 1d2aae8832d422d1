"""The Dashboard app's manifest and its registration, against Saleor's own validation and tables."""

from . import require_saleor

require_saleor()

import pytest  # noqa: E402
from django.core.exceptions import ValidationError  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.base import CommandError  # noqa: E402
from saleor.app.models import App, AppExtension  # noqa: E402

from lifecycle_plugin.saleor.dashboard import registration  # noqa: E402
from lifecycle_plugin.saleor.dashboard.manifest import (  # noqa: E402
    APP_IDENTIFIER,
    SaleorVersion,
    build_manifest,
    validated_manifest,
)

pytestmark = pytest.mark.django_db

BASE = "https://shop.example"
APP_URL = "https://shop.example/plugins/global/saleor.lifecycle/app/"


def extension_rows(app) -> list[tuple]:
    return sorted((e.label, e.mount, e.target, e.url, sorted(p.codename for p in e.permissions.all()))
                  for e in app.extensions.all())


def saleor_rows() -> dict[str, int]:
    """Everything an install could leave behind, counted."""
    return {
        "apps": App.objects.count(),
        "extensions": AppExtension.objects.count(),
        "app permissions": App.permissions.through.objects.count(),
        "extension permissions": AppExtension.permissions.through.objects.count(),
    }


@pytest.mark.parametrize(("version", "card"), [
    (SaleorVersion(3, 21), ("CUSTOMER_DETAILS_MORE_ACTIONS", "POPUP")),
    (SaleorVersion(3, 22), ("CUSTOMER_DETAILS_WIDGETS", "WIDGET")),
    (SaleorVersion(3, 23), ("CUSTOMER_DETAILS_WIDGETS", "WIDGET")),
])
def test_the_manifest_mounts_the_customer_card_where_the_version_has_it(version, card):
    manifest = build_manifest(BASE, version)
    overview, settings, messages, customer = manifest["extensions"]
    assert (overview["mount"], overview["target"], overview["url"]) == ("NAVIGATION_CUSTOMERS", "APP_PAGE", "/overview/")
    assert (settings["mount"], settings["target"], settings["url"]) == ("NAVIGATION_CUSTOMERS", "APP_PAGE", "/settings/")
    assert (messages["mount"], messages["target"], messages["url"]) == ("NAVIGATION_CUSTOMERS", "APP_PAGE", "/messages/")
    assert (customer["mount"], customer["target"], customer["url"]) == (*card, APP_URL + "customer/")
    assert manifest["appUrl"] == APP_URL
    assert ("tokenTargetUrl" in manifest) == (version < SaleorVersion(3, 23))
    assert all(("identifier" in e) == (version >= SaleorVersion(3, 23)) for e in manifest["extensions"])


def test_saleors_validation_accepts_the_manifest_for_the_running_version():
    cleaned = validated_manifest(build_manifest(BASE, SaleorVersion.running()))
    assert cleaned["id"] == APP_IDENTIFIER
    assert sorted(p.codename for p in cleaned["permissions"]) == ["manage_plugins", "manage_users"]
    assert [e["mount"] for e in cleaned["extensions"]][:2] == ["navigation_customers"] * 2


def test_saleors_validation_refuses_an_extension_permission_the_app_lacks():
    manifest = build_manifest(BASE, SaleorVersion.running())
    manifest["extensions"][0]["permissions"] = ["MANAGE_ORDERS"]
    with pytest.raises(ValidationError) as refused:
        validated_manifest(manifest)
    assert "extensions" in refused.value.message_dict


def test_install_creates_a_third_party_app_with_its_extensions():
    app = registration.install(BASE)
    assert (app.identifier, app.type, app.is_active, app.app_url) == (APP_IDENTIFIER, "thirdparty", True, APP_URL)
    assert sorted(p.codename for p in app.permissions.all()) == ["manage_plugins", "manage_users"]
    card_mount, card_target = (("customer_details_widgets", "widget") if SaleorVersion.running().has_widgets
                               else ("customer_details_more_actions", "popup"))
    assert extension_rows(app) == sorted([
        ("Customer lifecycle", "navigation_customers", "app_page", "/overview/", ["manage_users"]),
        ("Lifecycle settings", "navigation_customers", "app_page", "/settings/", ["manage_plugins", "manage_users"]),
        ("Lifecycle messages", "navigation_customers", "app_page", "/messages/", ["manage_users"]),
        ("Lifecycle", card_mount, card_target, APP_URL + "customer/", ["manage_users"]),
    ])


def test_install_twice_is_refused_and_update_rewrites_in_place():
    app = registration.install(BASE)
    with pytest.raises(registration.RegistrationError, match="already installed"):
        registration.install(BASE)
    app.is_active = False  # the owner switched the app off in the Dashboard: update keeps that
    app.save(update_fields=["is_active"])

    updated = registration.update("https://new.example/")
    assert updated.pk == app.pk and not updated.is_active
    assert updated.app_url == "https://new.example/plugins/global/saleor.lifecycle/app/"
    assert AppExtension.objects.filter(app=app).count() == 4
    assert all(e.url.startswith("/") or e.url.startswith("https://new.example/") for e in app.extensions.all())


def test_update_without_install_is_refused():
    with pytest.raises(registration.RegistrationError, match="not installed"):
        registration.update(BASE)


def test_remove_takes_away_exactly_what_install_made(app):
    before = saleor_rows()
    registration.install(BASE)
    assert saleor_rows() != before
    assert registration.remove() is True
    assert saleor_rows() == before
    assert App.objects.filter(pk=app.pk).exists()  # another app stays
    assert registration.remove() is False


def test_install_and_remove_tell_saleors_plugins_as_saleors_own_do(monkeypatch):
    from saleor.plugins.manager import PluginsManager

    told = []
    monkeypatch.setattr(PluginsManager, "app_installed", lambda self, app: told.append(("installed", app.identifier)))
    monkeypatch.setattr(PluginsManager, "app_deleted",
                        lambda self, app: told.append(("deleted", app.identifier, App.objects.filter(pk=app.pk).exists())))
    registration.install(BASE)
    registration.remove()
    assert told == [("installed", APP_IDENTIFIER), ("deleted", APP_IDENTIFIER, True)]


def test_the_command_installs_updates_and_removes(capsys):
    call_command("lifecycle_dashboard", "install", "--url", BASE)
    assert "Installed the lifecycle app" in capsys.readouterr().out
    call_command("lifecycle_dashboard", "update", "--url", "https://other.example")
    assert registration.registered_app().app_url.startswith("https://other.example/")
    with pytest.raises(CommandError, match="needs --url"):
        call_command("lifecycle_dashboard", "update")
    with pytest.raises(CommandError, match="already installed"):
        call_command("lifecycle_dashboard", "install", "--url", BASE)
    call_command("lifecycle_dashboard", "remove")
    assert registration.registered_app() is None


def test_install_runs_again_after_the_owner_deleted_the_app_in_the_dashboard():
    from django.utils import timezone

    deleted = registration.install(BASE)
    deleted.removed_at = timezone.now()  # what Saleor's appDelete leaves until its cleanup job runs
    deleted.save(update_fields=["removed_at"])
    assert registration.registered_app() is None
    again = registration.install(BASE)
    assert again.pk != deleted.pk and registration.registered_app() == again
