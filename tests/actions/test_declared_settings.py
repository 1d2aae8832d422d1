"""Settings declared through ``lifecycle_declare_settings``: built-in and third-party alike.

The third-party plugin here is the example of docs/plugin-authors.md, as written.
"""

import ast
import importlib
import logging
import re
import types
from decimal import Decimal
from pathlib import Path

import pytest

from lifecycle_plugin import conf, hookimpl
from lifecycle_plugin.conf import (
    BOOLEAN,
    CHOICE,
    DECIMAL,
    INTEGER,
    MULTILINE,
    STRING,
    TEMPLATE,
    Setting,
    all_settings,
    dashboard_messages,
    load_settings,
)
from lifecycle_plugin.hooks import BUILTIN_PLUGINS, process_plugin_manager, stable_name
from lifecycle_plugin.rules import ConfigError

PACKAGE = Path(conf.__file__).resolve().parent
DOC = PACKAGE.parent / "docs" / "plugin-authors.md"


@pytest.fixture
def install():
    """Registers plugins with this process's plugin manager, as their entry points would."""
    pm, installed = process_plugin_manager(), []

    def install(plugin):
        pm.register(plugin, name=stable_name(pm, plugin))
        installed.append(plugin)
        return plugin

    yield install
    for plugin in installed:
        pm.unregister(plugin)


def documented_plugin() -> types.ModuleType:
    """The example module of the hook's section in docs/plugin-authors.md."""
    text = DOC.read_text()
    start = text.index("### `lifecycle_declare_settings()`")
    [source] = re.findall(r"```python\n(.*?)```", text[start : text.index("\n## ", start)], re.S)
    module = types.ModuleType("sms_reminders.hooks")
    exec(compile(source, str(DOC), "exec"), module.__dict__)
    return module


def refusal(values: dict) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(values)
    return dashboard_messages(caught.value)


# ---------------------------------------------------------------------------- a third-party plugin


def test_a_third_party_setting_gets_a_field_a_default_and_validation_like_a_built_in(install):
    assert "sms_gateway" not in {s.name for s in all_settings()}
    install(documented_plugin())

    fields = {s.name: s for s in all_settings()}
    assert fields["sms_gateway"].label == "SMS reminders: gateway"
    assert fields["sms_gateway"].dashboard_type == STRING and fields["sms_enabled"].dashboard_type == BOOLEAN
    assert fields["sms_enabled"].default == "false"  # as the Dashboard stores a switch
    # Listed after the built-in actions, before the engine's own last field.
    names = list(fields)
    assert names.index("winback_reminder_enabled") < names.index("sms_enabled") < names.index("hook_timeout_seconds")

    defaults = load_settings({}).values
    assert (defaults["sms_enabled"], defaults["sms_gateway"], defaults["sms_max_price"]) == (False, "twilio",
                                                                                          Decimal("0.05"))
    chosen = load_settings({"sms_enabled": "true", "sms_gateway": "VONAGE", "sms_max_price": "0.1"}).values
    assert (chosen["sms_enabled"], chosen["sms_gateway"], chosen["sms_max_price"]) == (True, "vonage", Decimal("0.1"))

    assert refusal({"sms_gateway": "carrier pigeon", "sms_max_price": "2", "at_risk_days": "0"}) == {
        "sms_gateway": "SMS reminders: gateway: must be one of twilio, vonage, got 'carrier pigeon'",
        "sms_max_price": "SMS reminders: price limit (USD): must be from 0.01 to 1, got 2",
        "at_risk_days": "At risk after (days): must be a whole number of at least 1, got 0",
    }


def test_an_engine_hands_the_third_party_its_parsed_setting(install, db):  # the sandbox keeps saved settings in its database
    from lifecycle_plugin.runtime import get_engine
    from lifecycle_plugin.sandbox.host import SandboxHost

    install(documented_plugin())
    assert get_engine(SandboxHost()).settings["sms_max_price"] == Decimal("0.05")
    assert get_engine(SandboxHost(), defaults={"sms_max_price": "0.02"}).settings["sms_max_price"] == Decimal("0.02")


def test_the_config_error_text_names_third_party_fields_by_their_labels(install):
    install(documented_plugin())
    with pytest.raises(ConfigError) as caught:
        load_settings({"sms_max_price": "cheap"})
    assert str(caught.value) == "SMS reminders: price limit (USD): must be a number such as 2 or 1.5, got 'cheap'"


# ---------------------------------------------------------------------------- each type


class Typed:
    @hookimpl
    def lifecycle_declare_settings(self):
        return [
            Setting("typed_count", 3, INTEGER, "Typed: count", "From 1 to 5.", minimum=1, maximum=5),
            Setting("typed_floor", 2, INTEGER, "Typed: floor", "At least 2.", minimum=2),
            Setting("typed_ratio", "1.5", DECIMAL, "Typed: ratio", "Any number."),
            Setting("typed_template", "", TEMPLATE, "Typed: template", "A Django template."),
            Setting("typed_notes", "a\nb", MULTILINE, "Typed: notes", "Free text."),
            Setting("typed_even", 4, INTEGER, "Typed: even", "An even number.", validate=_even),
        ]


def _even(value: int) -> int:
    if value % 2:
        raise ValueError(f"must be even, got {value}")
    return value


@pytest.mark.parametrize(
    ("name", "typed", "expected"),
    [
        ("typed_count", " 5 ", 5),
        ("typed_floor", "9999", 9999),
        ("typed_ratio", "-0.25", Decimal("-0.25")),
        ("typed_template", "Hello {{ customer.first_name|default:'you' }}", "Hello {{ customer.first_name|default:'you' }}"),
        ("typed_notes", "x\ny", "x\ny"),
        ("typed_even", "6", 6),
    ],
)
def test_each_type_parses_the_dashboards_text(install, name, typed, expected):
    install(Typed())
    assert load_settings({name: typed}).values[name] == expected


@pytest.mark.parametrize(
    ("name", "typed", "message"),
    [
        ("typed_count", "6", "Typed: count: must be from 1 to 5, got 6"),
        ("typed_count", "2.5", "Typed: count: must be a whole number, got '2.5'"),
        ("typed_floor", "1", "Typed: floor: must be at least 2, got 1"),
        ("typed_ratio", "NaN", "Typed: ratio: must be a finite number, got 'NaN'"),
        ("typed_template", "{% if %}", "Typed: template: the template has an error: "),
        ("typed_even", "7", "Typed: even: must be even, got 7"),
        ("typed_even", "seven", "Typed: even: must be a whole number, got 'seven'"),
    ],
)
def test_each_type_refuses_a_bad_value_naming_its_label(install, name, typed, message):
    install(Typed())
    shown = refusal({name: typed})
    assert list(shown) == [name] and shown[name].startswith(message)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"type": "Number"}, "type must be one of"),
        ({"type": CHOICE}, "needs its choices"),
        ({"label": ""}, "needs a name, a label and a help text"),
    ],
)
def test_a_setting_that_cannot_be_shown_is_refused_when_declared(kwargs, words):
    fields = {"name": "x_y", "default": "", "type": STRING, "label": "X", "help_text": "Y", **kwargs}
    with pytest.raises(ValueError, match=words):
        Setting(**fields)


# ---------------------------------------------------------------------------- broken declarations


class Raises:
    @hookimpl
    def lifecycle_declare_settings(self):
        raise RuntimeError("declaration bug")


class TakesABuiltInName:
    @hookimpl
    def lifecycle_declare_settings(self):
        return [Setting("clash_ok", "1", STRING, "Clash: ok", "Fine on its own."),
                Setting("delivery_channel", "sms", STRING, "Clash: channel", "Taken by the built-in one.")]


class BadDefault:
    @hookimpl
    def lifecycle_declare_settings(self):
        return [Setting("bad_default_days", 0, INTEGER, "Bad: days", "From 1 to 9.", minimum=1, maximum=9)]


class NotSettings:
    @hookimpl
    def lifecycle_declare_settings(self):
        return [{"name": "dict_setting"}]


def test_a_broken_declaration_is_logged_and_left_out_whole_and_the_others_stay(install, caplog):
    caplog.set_level(logging.ERROR, logger="lifecycle_plugin.conf")
    for plugin in (Raises(), TakesABuiltInName(), BadDefault(), NotSettings()):
        install(plugin)
    install(documented_plugin())

    names = {s.name for s in all_settings()}
    assert {"clash_ok", "bad_default_days", "dict_setting"}.isdisjoint(names)
    assert {"sms_gateway", "repeat_purchase_enabled", "delivery_channel", "at_risk_days"} <= names
    assert load_settings({}).values["delivery_channel"] == "email"  # the built-in one
    logged = caplog.text
    for words in ("declaration bug", "'delivery_channel' is taken", "its default '0' is refused",
                  "must return Setting objects"):
        assert words in logged


# ---------------------------------------------------------------------------- the built-in actions


def test_the_built_in_actions_declare_their_settings_through_the_hook():
    declared = []
    for dotted in BUILTIN_PLUGINS:
        module = importlib.import_module(dotted)
        declared += [s.name for s in module.lifecycle_declare_settings()]
    rules_and_engine = [s.name for s in (*conf.RULE_SETTINGS, *conf.ENGINE_SETTINGS)]
    assert sorted(s.name for s in all_settings()) == sorted(rules_and_engine + declared)
    assert {"delivery_channel", "repeat_purchase_discount", "tier_upgrade_voucher", "review_request_delay_days",
            "winback_reminder_max_count", "winback_reminder_html_template"} <= set(declared)


def test_conf_imports_no_action():
    """The settings module and the actions no longer import each other."""
    tree = ast.parse((PACKAGE / "conf.py").read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert imported and not [name for name in imported if "actions" in name]
