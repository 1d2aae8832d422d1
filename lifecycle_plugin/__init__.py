"""saleor-lifecycle: a customer-lifecycle engine for Saleor.

Plugin authors import what they need from one module, ``lifecycle_plugin.api``
(docs/plugin-authors.md). This module stays free of Django so that the hook marker
imports anywhere; ``lifecycle_plugin.hookimpl`` is the same object as the api's.
"""

import pluggy

__version__ = "0.1.0"

#: Marks a function as an implementation of a hook in ``lifecycle_plugin.hookspecs``.
hookimpl = pluggy.HookimplMarker("lifecycle")

__all__ = ["__version__", "hookimpl"]
