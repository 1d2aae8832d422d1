"""saleor-lifecycle: a customer-lifecycle engine for Saleor.

This module stays free of Django so that plugin authors can import the hook
marker anywhere: ``from lifecycle_plugin import hookimpl``.
"""

import pluggy

__version__ = "0.1.0"

#: Marks a function as an implementation of a hook in ``lifecycle_plugin.hookspecs``.
hookimpl = pluggy.HookimplMarker("lifecycle")

__all__ = ["__version__", "hookimpl"]
