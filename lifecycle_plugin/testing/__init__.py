"""Test helpers for plugin authors and for this package's own tests; no Django needed.

- `MemoryHost`: a whole store in memory (accounts, orders, checkouts, messages,
  vouchers) that keeps every rule of the `Host` protocol, so an action can be
  unit-tested without Saleor or the sandbox store.
- `Clock`: a settable clock to pass as the engine's `clock`.

Plugin authors import them from `lifecycle_plugin.api`.
"""

from .clock import Clock
from .memory_host import MemoryAccount, MemoryCheckout, MemoryHost, MemoryOrder, MemoryVoucher

__all__ = ["Clock", "MemoryAccount", "MemoryCheckout", "MemoryHost", "MemoryOrder", "MemoryVoucher"]
