"""lifecycleViewer: the caller as the server authenticated them (the Dashboard pages show it)."""

from __future__ import annotations

import pytest

from lifecycle_plugin.graphql.viewer import Viewer

from .conftest import customer_viewer

pytestmark = pytest.mark.django_db

VIEWER = "{ lifecycleViewer { kind email canManageUsers canManagePlugins } }"


def viewer_of(store, viewer: Viewer) -> dict:
    response = store.run(VIEWER, viewer)
    assert "errors" not in response, response
    return response["data"]["lifecycleViewer"]


def test_anyone_learns_who_they_are_to_the_server(store, ann):
    assert viewer_of(store, Viewer.anonymous()) == {
        "kind": "anonymous", "email": None, "canManageUsers": False, "canManagePlugins": False}
    assert viewer_of(store, customer_viewer(ann)) == {
        "kind": "customer", "email": ann.email, "canManageUsers": False, "canManagePlugins": False}
    assert viewer_of(store, Viewer.app(can_manage_users=True))["canManageUsers"] is True


def test_staff_permissions_are_reported_each_on_its_own(store):
    for users, plugins in [(True, False), (False, True), (True, True)]:
        viewer = Viewer.staff(7, "staff@example.com", can_manage_users=users, can_manage_plugins=plugins)
        assert viewer_of(store, viewer) == {
            "kind": "staff", "email": "staff@example.com", "canManageUsers": users, "canManagePlugins": plugins}


def test_a_customer_cannot_hold_manage_plugins():
    with pytest.raises(ValueError, match="MANAGE_PLUGINS"):
        Viewer("customer", user_id=1, can_manage_plugins=True)
