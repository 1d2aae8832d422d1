"""Test helpers for plugin authors and for this package's own tests; no Django needed.

- `MemoryHost`: a store in memory (accounts, orders, carts, messages, vouchers) that
  implements the host interface, for fast tests of decisions and hooks.
- `Clock`: a settable clock to pass as the engine's `clock`.

Plugin authors import them from `lifecycle_plugin.api`.
"""

from .clock import Clock
from .memory_host import MemoryHost

__all__ = ["Clock", "MemoryHost"]
