"""docs/plugin-authors.md documents every hookspec exactly as hookspecs.py declares it.

A plugin author reads only that page, so each hook there must have its real
arguments, say when it is called, what it may return, and show an implementation.
"""

import importlib.util
import inspect
import re
from pathlib import Path

import pluggy
import pytest

from lifecycle_plugin import hookspecs

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugin-authors.md"
HOOK_HEADING = re.compile(r"^### `(?P<name>lifecycle_\w+)\((?P<args>[^)]*)\)`(?P<rest>.*)$", re.M)


def specs() -> dict[str, inspect.Signature]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: inspect.signature(function)
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, marker)
    }


def is_firstresult(name: str) -> bool:
    function = getattr(hookspecs, name)
    return bool(getattr(function, f"{hookspecs.PROJECT_NAME}_spec")["firstresult"])


def documented() -> dict[str, tuple[list[str], str, str]]:
    """Hook name -> (arguments in the heading, the heading's remainder, the section's text)."""
    text = DOC.read_text()
    headings = list(HOOK_HEADING.finditer(text))
    sections = {}
    for heading, following in zip(headings, [*headings[1:], None]):
        end = following.start() if following else text.find("\n## ", heading.end())
        arguments = [a.strip() for a in heading["args"].split(",") if a.strip()]
        sections[heading["name"]] = (arguments, heading["rest"], text[heading.end() : end])
    return sections


def test_every_hookspec_has_a_section_and_no_section_is_invented():
    assert len(specs()) >= 8
    assert sorted(documented()) == sorted(specs())


@pytest.mark.parametrize("name", sorted(specs()))
def test_a_hook_section_has_the_spec_arguments_when_returns_and_an_example(name):
    arguments, rest, section = documented()[name]
    assert arguments == list(specs()[name].parameters), f"{name}: the heading's arguments differ from hookspecs.py"
    assert "*When*" in section, f"{name}: say when it is called"
    assert "*Returns*" in section, f"{name}: say what it may return"
    for argument in arguments:
        assert f"`{argument}`" in section, f"{name}: argument {argument!r} is not explained"
    assert re.search(rf"```python\n(?:.*\n)*?@hookimpl\ndef {name}\(", section), f"{name}: no example implementation"


@pytest.mark.parametrize("name", sorted(specs()))
def test_first_result_hooks_are_marked_as_such(name):
    assert ("(first result)" in documented()[name][1]) == is_firstresult(name)


def test_first_result_only_where_one_answer_is_wanted():
    """firstresult stops pluggy at the first non-None answer: right for hooks with one answer."""
    assert {name for name in specs() if is_firstresult(name)} == {
        "lifecycle_classify",  # one decision wins
        "lifecycle_run_action",  # the plugin that owns the action carries it out
        "lifecycle_deliver_message",  # one channel delivers a message
    }
    # the notification hooks and the fact collector must reach every plugin
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    assert pm.hook.lifecycle_collect_facts.spec.opts["firstresult"] is False


def section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


@pytest.mark.django_db
def test_the_documented_action_and_its_sandbox_test_work_as_written(
    tmp_path, monkeypatch, settings, django_capture_on_commit_callbacks
):
    """The gold-gift action of "Messages and vouchers" passes the test of "Testing against the sandbox host".

    Only the page is used: its plugin module, its test, and the template files the
    page says the plugin keeps (their wording is the author's). The plugin is registered
    as its entry point would be, by every plugin manager the engine makes.
    """
    [plugin_source] = python_blocks(section("Messages and vouchers with the built-in helpers"))
    [test_source] = python_blocks(section("Testing against the sandbox host"))
    package = tmp_path / "gold_gift_doc"
    templates = package / "templates" / "lifecycle_plugin"
    templates.mkdir(parents=True)
    (templates / "gold_gift.subject.txt").write_text("Welcome to gold: {{ voucher.discount }} off")
    (templates / "gold_gift.txt").write_text("Your code: {{ voucher.code }}")
    (package / "hooks.py").write_text(plugin_source)
    spec = importlib.util.spec_from_file_location("gold_gift_doc.hooks", package / "hooks.py")
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)

    from lifecycle_plugin.engine import service
    from lifecycle_plugin.sandbox.models import OutboxMessage, Voucher

    from lifecycle_plugin.hooks import make_plugin_manager

    installed = make_plugin_manager(extra=[plugin])
    monkeypatch.setattr(service, "process_plugin_manager", lambda: installed)  # as `pip install` of it would
    namespace: dict = {}
    exec(compile(test_source, "docs/plugin-authors.md", "exec"), namespace)
    [test_function] = [value for name, value in namespace.items() if name.startswith("test_")]

    test_function(settings, django_capture_on_commit_callbacks)

    [message] = OutboxMessage.objects.filter(action="gold_gift")
    [voucher] = Voucher.objects.all()
    assert message.subject == "Welcome to gold: 20.00 USD off" and message.text.strip() == f"Your code: {voucher.code}"


def test_every_public_attribute_of_the_action_context_is_in_its_table():
    from lifecycle_plugin.engine import ActionContext

    table = section("ActionContext: what action hooks receive")
    public = {name for name in dir(ActionContext) if not name.startswith("_")} | {"profile", "now"}
    documented_names = set(re.findall(r"^\| `(\w+)", table, re.M))
    assert public <= documented_names, public - documented_names
