"""The plugin's settings in Saleor: where Saleor finds the plugin, and a third-party action's
settings shown, defaulted and validated by Saleor's own plugin configuration."""

from . import require_saleor

require_saleor()

import pytest  # noqa: E402
from django.conf import settings  # noqa: E402
from saleor.graphql.tests.utils import get_graphql_content  # noqa: E402
from saleor.plugins import discover_plugins_modules  # noqa: E402
from saleor.plugins.models import PluginConfiguration  # noqa: E402

from lifecycle_plugin import hookimpl  # noqa: E402
from lifecycle_plugin import plugin as entry_point  # noqa: E402
from lifecycle_plugin.conf import INTEGER, Setting  # noqa: E402
from lifecycle_plugin.hooks import process_plugin_manager, stable_name  # noqa: E402
from lifecycle_plugin.saleor.plugin import PLUGIN_ID, LifecyclePlugin  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

PLUGIN_QUERY = """
query ($id: ID!) {
  plugin(id: $id) { globalConfiguration { configuration { name type label helpText value } } }
}"""
PLUGIN_UPDATE = """
mutation ($id: ID!, $input: PluginUpdateInput!) {
  pluginUpdate(id: $id, input: $input) { errors { field code message } }
}"""


class BirthdayGift:
    @hookimpl
    def lifecycle_declare_settings(self):
        return [Setting("birthday_valid_days", 14, INTEGER, "Birthday gift: valid for (days)",
                        "The voucher expires this many days after it is issued (1 to 60).", minimum=1, maximum=60)]


@pytest.fixture
def birthday_gift():
    """A third-party action, registered as its entry point would be."""
    pm, plugin = process_plugin_manager(), BirthdayGift()
    pm.register(plugin, name=stable_name(pm, plugin))
    yield plugin
    pm.unregister(plugin)


def configuration(client) -> dict[str, dict]:
    plugin = get_graphql_content(client.post_graphql(PLUGIN_QUERY, {"id": PLUGIN_ID}))["data"]["plugin"]
    return {item["name"]: item for item in plugin["globalConfiguration"]["configuration"]}


def test_saleor_loads_the_plugin_by_its_entry_point_path_and_finds_its_tasks_beside_it():
    assert entry_point.LifecyclePlugin is LifecyclePlugin and LifecyclePlugin.PLUGIN_ID == "saleor.lifecycle"
    assert "lifecycle_plugin.plugin.LifecyclePlugin" in settings.PLUGINS
    # Saleor's Celery looks for tasks in the package of each plugin's module: lifecycle_plugin.tasks.
    assert "lifecycle_plugin" in discover_plugins_modules(settings.PLUGINS)


def test_a_third_party_setting_is_a_dashboard_field_with_its_default(
    staff_api_client, permission_manage_plugins, lifecycle_plugin, birthday_gift
):
    staff_api_client.user.user_permissions.add(permission_manage_plugins)
    expected = {"name": "birthday_valid_days", "type": "STRING", "label": "Birthday gift: valid for (days)",
                "helpText": "The voucher expires this many days after it is issued (1 to 60).", "value": "14"}

    # Saved before the plugin was installed: Saleor adds the new field with its default.
    assert configuration(staff_api_client)["birthday_valid_days"] == expected
    lifecycle_plugin.delete()  # a fresh install
    assert configuration(staff_api_client)["birthday_valid_days"] == expected
    assert "birthday_valid_days" in LifecyclePlugin.CONFIG_STRUCTURE
    assert {"name": "birthday_valid_days", "value": "14"} in LifecyclePlugin.DEFAULT_CONFIGURATION


def test_plugin_update_validates_a_third_party_setting_like_a_built_in(
    staff_api_client, permission_manage_plugins, lifecycle_plugin, birthday_gift
):
    staff_api_client.user.user_permissions.add(permission_manage_plugins)
    before = PluginConfiguration.objects.values().get(pk=lifecycle_plugin.pk)

    def update(value):
        response = staff_api_client.post_graphql(PLUGIN_UPDATE, {"id": PLUGIN_ID, "input": {
            "configuration": [{"name": "birthday_valid_days", "value": value}]}})
        return get_graphql_content(response)["data"]["pluginUpdate"]["errors"]

    assert update("90") == [{"field": "birthdayValidDays", "code": "INVALID",
                             "message": "Birthday gift: valid for (days): must be from 1 to 60, got 90"}]
    assert PluginConfiguration.objects.values().get(pk=lifecycle_plugin.pk) == before

    assert update("30") == []
    from lifecycle_plugin.runtime import get_engine

    assert get_engine().settings["birthday_valid_days"] == 30
