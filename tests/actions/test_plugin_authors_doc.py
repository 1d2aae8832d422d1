"""docs/plugin-authors.md documents every hookspec exactly as hookspecs.py declares it.

A plugin author reads only that page, so each hook there must have its real
arguments, say when it is called, what it may return, and show an implementation.
"""

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
