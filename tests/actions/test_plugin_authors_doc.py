"""docs/plugin-authors.md documents every hookspec exactly as hookspecs.py declares it.

A plugin author reads only that page, so each hook there must have its real
arguments, say when it is called, what it may return, and show an implementation.
"""

import ast
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pluggy
import pytest

from lifecycle_plugin import hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugin-authors.md"
EXAMPLE = ROOT / "examples" / "birthday-reward"
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
        "lifecycle_consent",  # the first consent source that knows the customer answers
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


def subsection(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"\n### {title}\n")
    end = min(i for i in (text.find("\n### ", start + 1), text.find("\n## ", start + 1), len(text)) if i != -1)
    return text[start:end]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def lifecycle_imports(source: str) -> list[str]:
    """The modules of the package that `source` imports from."""
    modules = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.append(node.module)
        elif isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
    return [m for m in modules if m == "lifecycle_plugin" or m.startswith("lifecycle_plugin.")]


def test_every_example_imports_the_package_only_through_its_api():
    """Plugin authors have one import path: the page's examples and the example package use only it."""
    sources = {f"plugin-authors.md block {n}": block for n, block in enumerate(python_blocks(DOC.read_text()), 1)}
    sources |= {str(path.relative_to(ROOT)): path.read_text() for path in sorted(EXAMPLE.rglob("*.py"))}
    assert sum(bool(lifecycle_imports(source)) for source in sources.values()) >= 6
    elsewhere = {name: imports for name, source in sources.items()
                 if (imports := [m for m in lifecycle_imports(source) if m != "lifecycle_plugin.api"])}
    assert elsewhere == {}


@pytest.mark.django_db
def test_the_documented_action_and_its_sandbox_test_work_as_written(
    tmp_path, monkeypatch, settings, django_capture_on_commit_callbacks
):
    """The gold-gift action of "Messages and vouchers" passes the test of "Tests on the sandbox host".

    Only the page is used: its plugin module, its test, and the template files the
    page says the plugin keeps (their wording is the author's). The plugin is registered
    as its entry point would be, by every plugin manager the engine makes.
    """
    introduction = section("Messages and vouchers with the built-in helpers").split("\n### ")[0]
    [plugin_source] = python_blocks(introduction)
    [test_source] = python_blocks(subsection("Tests on the sandbox host"))
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


def test_the_documented_unit_test_passes_without_django_settings(tmp_path):
    """"Unit tests on the in-memory host" runs as written against the page's `lifecycle_classify`
    example, in a process with no Django settings and no database, as a plugin author's may."""
    [classify] = python_blocks(documented()["lifecycle_classify"][2])
    [unit_test] = python_blocks(subsection("Unit tests on the in-memory host"))
    package = tmp_path / "my_reward"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "hooks.py").write_text("from lifecycle_plugin.api import hookimpl\n" + classify)
    (tmp_path / "test_advocate.py").write_text(unit_test)
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), str(ROOT), env.get("PYTHONPATH")]))
    run = [sys.executable, "-c", "import test_advocate as t; t.test_five_reviews_make_a_loyal_customer_an_advocate(); "
           "from django.conf import settings; assert settings.DATABASES['default']['ENGINE'].endswith('dummy'); print('passed')"]
    done = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "passed", done.stdout + done.stderr
