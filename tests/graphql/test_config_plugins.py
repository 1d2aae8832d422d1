"""`lifecycleConfig { plugins }`: the plugins the engine calls, as `manage.py lifecycle_plugins` lists them."""

from __future__ import annotations

import importlib

import pytest

from lifecycle_plugin import hookimpl
from lifecycle_plugin.graphql.viewer import Viewer
from lifecycle_plugin.hooks import BUILTIN_PLUGINS, describe_plugins

from .conftest import codes

pytestmark = pytest.mark.django_db

APP = Viewer.app(can_manage_users=True)
QUERY = "{ lifecycleConfig { plugins { name distribution version builtin hooks } } }"


class BirthdayReward:
    @hookimpl
    def lifecycle_daily_tick(self, context, today):
        pass

    @hookimpl
    def lifecycle_stage_changed(self, context, change):
        pass


def test_lists_the_engines_plugins_with_their_hooks(store):
    store.engine.pm.register(BirthdayReward(), name="birthday_reward")

    plugins = store.run(QUERY, APP)["data"]["lifecycleConfig"]["plugins"]

    assert plugins == [{
        "name": "birthday_reward", "distribution": None, "version": None, "builtin": False,
        "hooks": ["lifecycle_daily_tick", "lifecycle_stage_changed"],
    }]


def test_the_built_in_actions_are_listed_with_the_packages_version(store):
    from lifecycle_plugin import __version__

    for dotted in BUILTIN_PLUGINS:  # as the process's plugin manager registers them
        store.engine.pm.register(importlib.import_module(dotted), name=dotted)

    plugins = store.run(QUERY, APP)["data"]["lifecycleConfig"]["plugins"]

    assert [plugin["name"] for plugin in plugins] == BUILTIN_PLUGINS
    assert {(p["distribution"], p["version"], p["builtin"]) for p in plugins} == {("saleor-lifecycle", __version__, True)}
    assert all(plugin["hooks"] for plugin in plugins)
    assert plugins == [
        {"name": info.name, "distribution": info.distribution, "version": info.version, "builtin": info.builtin,
         "hooks": list(info.hooks)}
        for info in describe_plugins(store.engine.pm)
    ]


def test_needs_manage_users(store):
    response = store.run(QUERY, Viewer.app(can_manage_users=False))
    assert response["data"] == {"lifecycleConfig": None} and codes(response) == ["PERMISSION_DENIED"]

