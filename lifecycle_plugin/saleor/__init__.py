"""The Saleor binding: everything that imports Saleor lives in this package.

(``lifecycle_plugin/plugin.py``, the entry-point path Saleor loads, re-exports `plugin.LifecyclePlugin`.)
"""
