"""The Saleor binding: everything that imports Saleor lives in this package and in plugin.py."""
