"""`decide` is checked against the one statement of the ladder (rules/ladder.py): for any
customer, settings and moment, the statement read literally (`explain`) gives the same
stage, rule and facts, and the same tier for the window's spend."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle_plugin.rules import LifecycleConfig, Stage, decide
from lifecycle_plugin.rules.ladder import LADDER, Setting, explain, sql_unsupported, tier_of
from tests.rules.ladder_strategies import NOWS, configs, customers
from tests.rules.test_properties import scenarios

CHECK = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def near_threshold_scenarios(draw):
    config = draw(configs())
    now = draw(NOWS)
    return draw(st.lists(customers(config, now), min_size=1, max_size=6)), config, now


def assert_follows_statement(facts, config, now):
    decision = decide(facts, config, now)
    explained = explain(facts, config, now)
    assert (decision.stage, decision.rule, dict(decision.facts)) == (explained.stage, explained.rule, explained.facts)
    assert decision.tier == tier_of(dict(decision.summary.window_spend), config)


@CHECK
@given(near_threshold_scenarios())
def test_decide_follows_the_statement_around_thresholds(scenario):
    several, config, now = scenario
    for facts in several:
        assert_follows_statement(facts, config, now)


@CHECK
@given(scenarios())
def test_decide_follows_the_statement_on_the_property_tests_histories(scenario):
    assert_follows_statement(*scenario)


def test_every_threshold_in_the_statement_is_a_setting():
    """No number is copied into the statement: each one names a LifecycleConfig field."""
    names = {f for f in LifecycleConfig.__dataclass_fields__}
    found = []

    def walk(value):
        if isinstance(value, Setting):
            found.append(value.name)
        elif isinstance(value, tuple):
            for item in value:
                walk(item)
        elif hasattr(value, "__dataclass_fields__"):
            for field in value.__dataclass_fields__:
                walk(getattr(value, field))

    walk(LADDER)
    assert set(found) <= names
    # Every setting that decides a stage or tier is used by the statement.
    assert set(found) == names


def test_the_statement_tries_buyer_rules_dormant_first():
    assert [r.stage for r in LADDER.buyers] == [Stage.LAPSED, Stage.AT_RISK, Stage.LOYAL, Stage.REPEAT, Stage.NEW]
    assert [r.stage for r in LADDER.pre_purchase] == [Stage.PROSPECT, Stage.LEAD, Stage.VISITOR]


def test_settings_the_sql_evaluator_cannot_decide_are_named():
    assert sql_unsupported(LifecycleConfig()) == {}
    assert sql_unsupported(LifecycleConfig(personal_gap_multiplier=Decimal("1.234567891"))) == {}
    problems = sql_unsupported(LifecycleConfig(personal_gap_multiplier=Decimal("1.2345678912")))
    assert list(problems) == ["personal_gap_multiplier"]
    assert "10 significant digits" in problems["personal_gap_multiplier"]
