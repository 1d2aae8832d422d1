"""A third-party stage action for saleor-lifecycle: the customer's shop birthday.

On the anniversary of a customer's first order (their birthday with the shop) the
customer gets a personal voucher and a message. See ``hooks.py``.
"""

__version__ = "0.1.0"
