"""The plugin manager: built once per process, and names that are the same in every process."""

import types

import pluggy

from lifecycle_plugin import hooks
from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.hooks import make_plugin_manager, process_plugin_manager, stable_name

from lifecycle_plugin.testing import MemoryHost


class Reward:
    pass


def test_the_process_builds_its_plugin_manager_once(monkeypatch):
    scans = []
    load = pluggy.PluginManager.load_setuptools_entrypoints
    monkeypatch.setattr(pluggy.PluginManager, "load_setuptools_entrypoints",
                        lambda self, group, name=None: scans.append(group) or load(self, group, name))
    monkeypatch.setattr(hooks, "_process_manager", None)

    first = LifecycleEngine(MemoryHost()).pm
    assert LifecycleEngine(MemoryHost()).pm is first is process_plugin_manager()
    assert scans == [hooks.ENTRY_POINT_GROUP]
    assert "lifecycle_plugin.actions.winback" in dict(first.list_name_plugin())


def test_plugins_registered_without_a_name_get_one_that_does_not_depend_on_the_object():
    module = types.ModuleType("my_reward.hooks")
    pm = make_plugin_manager(builtins=[], load_entry_points=False, extra=[module, Reward(), Reward()])

    assert [name for name, _ in pm.list_name_plugin()] == [
        "my_reward.hooks", f"{__name__}.Reward", f"{__name__}.Reward#2"]
    assert stable_name(pm, Reward()) == f"{__name__}.Reward#3"


def test_lifecycle_plugins_lists_each_plugin_with_its_package_and_hooks(tmp_path, monkeypatch):
    """A package installed with an entry point (a dist-info folder on sys.path, as pip
    leaves it), next to the built-in plugins."""
    from io import StringIO

    from django.core.management import call_command

    (tmp_path / "thanks_plugin.py").write_text(
        "from lifecycle_plugin import hookimpl\n\n"
        "@hookimpl\ndef lifecycle_stage_changed(context, change):\n    pass\n"
    )
    info = tmp_path / "thanks_plugin-1.2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thanks-plugin\nVersion: 1.2.0\n")
    (info / "entry_points.txt").write_text("[lifecycle_plugin]\nthanks = thanks_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(hooks, "_process_manager", None)

    out = StringIO()
    call_command("lifecycle_plugins", stdout=out)
    lines = out.getvalue().splitlines()

    assert lines[lines.index("thanks (thanks-plugin 1.2.0)") + 1] == "    lifecycle_stage_changed"
    assert lines[lines.index("lifecycle_plugin.actions.winback (built in)") + 1] == (
        "    lifecycle_order_counted, lifecycle_run_action, lifecycle_stage_changed")
    assert lines[-1] == f"{len(hooks.BUILTIN_PLUGINS) + 1} plugins: {len(hooks.BUILTIN_PLUGINS)} built in, 1 installed."
