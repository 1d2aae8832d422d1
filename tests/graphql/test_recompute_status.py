"""`lifecycleRecomputeStatus`: done/total, moved and an ETA of the settings recompute, for staff."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from django.db import connection

from lifecycle_plugin.engine.recompute import request_recompute, run_recompute
from lifecycle_plugin.graphql.viewer import Viewer
from lifecycle_plugin.rules import LifecycleConfig

from .conftest import codes

pytestmark = pytest.mark.django_db

APP = Viewer.app(can_manage_users=True)
QUERY = "{ lifecycleRecomputeStatus { state scope changed done total moved etaSeconds finishedAt } }"


def test_null_before_any_settings_change(store):
    assert store.run(QUERY, APP)["data"]["lifecycleRecomputeStatus"] is None


def test_progress_of_a_run_halfway_then_done(store, clock):
    for i in range(6):  # one order each, 70 to 75 days ago: new now, at risk after 60 days
        store.account(f"c{i}@example.com")
        store.order(f"c{i}@example.com", at=clock.now - timedelta(days=70 + i))
    store.process_all()
    old = LifecycleConfig()
    new = dataclasses.replace(old, at_risk_days=60)
    request_recompute(old, new, now=clock.now)
    store.engine.config = new  # what the worker's engine, built after the save, holds
    run_recompute(store.engine, chunk_size=2, max_chunks=1)

    halfway = store.run(QUERY, APP)["data"]["lifecycleRecomputeStatus"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_customerprofile WHERE orders_count > 0")
        buyers = cursor.fetchone()[0]
    assert (halfway["state"], halfway["scope"], halfway["changed"]) == ("running", "buyers", ["at_risk_days"])
    assert (halfway["done"], halfway["total"]) == (2, buyers) and halfway["etaSeconds"] is not None

    run_recompute(store.engine, chunk_size=2)
    done = store.run(QUERY, APP)["data"]["lifecycleRecomputeStatus"]
    assert (done["state"], done["done"], done["total"], done["moved"], done["etaSeconds"]) == ("done", 6, 6, 6, 0)
    assert done["finishedAt"]


def test_needs_manage_users(store):
    assert codes(store.run(QUERY, Viewer.app(can_manage_users=False))) == ["PERMISSION_DENIED"]
