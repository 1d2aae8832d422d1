"""The `Host` protocol declares every host method the package calls, and says what each
optional one's absence means."""

import inspect
import re
from pathlib import Path

import lifecycle_plugin
from lifecycle_plugin.host import OPTIONAL_HOST_METHODS, REQUIRED_HOST_METHODS, Host, is_host
from lifecycle_plugin.testing import MemoryHost

PACKAGE = Path(lifecycle_plugin.__file__).parent
#: An optional method looked up on a host: getattr(host, "x"), getattr(context.host, "x"), ...
LOOKUP = re.compile(r"""getattr\(\s*(?:[\w.]*\.)?(?:host|get_host\(\))\s*,\s*["'](\w+)["']""")


def looked_up_methods() -> set[str]:
    return {name for path in PACKAGE.rglob("*.py") for name in LOOKUP.findall(path.read_text())} - {"name"}


def test_every_method_the_package_looks_up_on_a_host_is_declared_optional():
    found = looked_up_methods()
    assert {"marketing_consent", "forget_customer", "plugin_settings"} <= found  # the scan finds them
    assert found <= set(OPTIONAL_HOST_METHODS)


def test_every_declared_method_is_on_the_protocol_with_its_meaning():
    for method in (*REQUIRED_HOST_METHODS, *OPTIONAL_HOST_METHODS):
        assert callable(getattr(Host, method, None)), method
        doc = inspect.getdoc(getattr(Host, method)) or ""
        assert len(doc) > 40, method
    for method in OPTIONAL_HOST_METHODS:
        doc = inspect.getdoc(getattr(Host, method))
        assert doc.startswith("Optional.") and "Absent:" in doc, method


def test_is_host_needs_the_required_methods_only():
    assert is_host(MemoryHost())

    class Partial:
        name = "partial"

    for method in REQUIRED_HOST_METHODS[:-1]:
        setattr(Partial, method, lambda self, *args: None)
    assert not is_host(Partial())
    Partial.deliver_message = lambda self, message: None
    assert is_host(Partial())
