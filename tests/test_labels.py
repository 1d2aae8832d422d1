"""Stage and tier labels are defined once (rules.stage_label, rules.tier_label) and every place shows that one.

The places: GraphQL (stage and tier objects, stage definitions, the enum's
descriptions in schema.graphql), the messages' template data, the sandbox's reports,
the model's choices and the documented message payload. A plugin's stage and an
owner's tier, which have no built-in label, read the same everywhere too.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from lifecycle_plugin.actions import offers, tier_upgrade
from lifecycle_plugin.graphql.execution import execute_graphql
from lifecycle_plugin.graphql.export import SCHEMA_FILE
from lifecycle_plugin.graphql.viewer import Viewer
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import STAGE_CHOICES, CustomerProfile
from lifecycle_plugin.rules import LifecycleConfig, Stage, stage_label, tier_label
from lifecycle_plugin.sandbox.commands.common import Out
from lifecycle_plugin.sandbox.commands.reports import print_distribution

NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
DOCS = Path(__file__).resolve().parents[1] / "docs"
#: A plugin's stage and an owner's tier: no built-in label, so their codes in words.
PLUGIN_STAGE, OWNER_TIER = "brand_advocate", "vip_plus"


def test_the_labels():
    assert [stage_label(stage.value) for stage in Stage] == [
        "Visitor", "Lead", "Prospect", "New customer", "Repeat customer", "Loyal customer", "At risk", "Lapsed",
    ]
    assert all(stage.label == stage_label(stage.value) for stage in Stage)
    assert stage_label(PLUGIN_STAGE) == "Brand advocate"
    assert (tier_label("gold"), tier_label(OWNER_TIER), tier_label(None)) == ("Gold", "Vip Plus", "")


def test_the_models_choices_and_the_schemas_enum_use_them():
    assert STAGE_CHOICES == [(stage.value, stage_label(stage.value)) for stage in Stage]
    sdl = SCHEMA_FILE.read_text()
    enum = sdl.split("enum LifecycleStageCode {")[1].split("}")[0]
    described = dict(re.findall(r'"""(.+?): .*?"""\s+(\w+)', enum))
    assert described == {stage_label(stage.value): stage.name for stage in Stage}


def test_the_documented_message_payload_shows_them():
    payload = (DOCS / "actions.md").read_text()
    shown = re.findall(r'"stage": "(\w+)", "stage_label": "([^"]*)"', payload)
    assert shown and all(label == stage_label(code) for code, label in shown)


def profile(stage: str, tier: str | None) -> CustomerProfile:
    return CustomerProfile.objects.create(
        email=f"{stage}@example.com", stage=stage, stage_since=NOW, stage_rule="test", tier=tier, tier_since=NOW,
        history_cutoff=NOW, decided_at=NOW,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("stage", [*(stage.value for stage in Stage), PLUGIN_STAGE])
def test_graphql_shows_them(stage):
    profile(stage, OWNER_TIER)
    query = '{ customerLifecycle(email: "%s@example.com") { stage { key label } tier { key label } } }' % stage
    answer = execute_graphql({"query": query}, Viewer.app(can_manage_users=True))
    assert answer["data"]["customerLifecycle"] == {
        "stage": {"key": stage, "label": stage_label(stage)},
        "tier": {"key": OWNER_TIER, "label": tier_label(OWNER_TIER)},
    }


@pytest.mark.django_db
def test_graphqls_stage_definitions_show_them():
    answer = execute_graphql({"query": "{ lifecycleStages { key label } }"}, Viewer.app(can_manage_users=True))
    assert answer["data"]["lifecycleStages"] == [{"key": s.value, "label": stage_label(s.value)} for s in Stage]


@pytest.mark.parametrize("stage", ["at_risk", PLUGIN_STAGE])
def test_messages_show_them(stage):
    context = SimpleNamespace(
        profile=SimpleNamespace(stage=stage, tier=OWNER_TIER, customer=CustomerRef("ann@example.com", None)),
        host=SimpleNamespace(),
    )
    entry = SimpleNamespace(action="winback_reminder", dedupe_key="k", payload={})
    data = offers.message_data(context, entry, None)
    assert (data["stage_label"], data["tier_label"]) == (stage_label(stage), tier_label(OWNER_TIER))
    assert tier_upgrade.tier_label is tier_label  # the tier news names tiers the same way


@pytest.mark.django_db
def test_the_sandboxs_reports_show_them():
    for stage in (*(stage.value for stage in Stage), PLUGIN_STAGE):
        profile(stage, OWNER_TIER if stage == PLUGIN_STAGE else "gold")
    out = Out(progress=False)
    out.stream = io.StringIO()
    print_distribution(out, LifecycleConfig())
    printed = out.stream.getvalue()
    for stage in (*(stage.value for stage in Stage), PLUGIN_STAGE):
        assert re.search(rf"^  {stage} +{re.escape(stage_label(stage))} +1 ", printed, re.M), stage
    for tier in ("gold", OWNER_TIER):
        assert re.search(rf"^  {tier} +{re.escape(tier_label(tier))} +\d", printed, re.M), tier
