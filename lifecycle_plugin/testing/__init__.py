"""Test helpers for plugin authors and for the package's own tests.

`MemoryHost` is a whole store in memory that keeps every rule of the `Host` protocol,
so an action can be unit-tested without Saleor or the sandbox store. Importing this
package needs no Django settings.
"""

from .memory_host import MemoryAccount, MemoryCheckout, MemoryHost, MemoryOrder, MemoryVoucher

__all__ = ["MemoryAccount", "MemoryCheckout", "MemoryHost", "MemoryOrder", "MemoryVoucher"]
