"""How Saleor knows the plugin: its key in Saleor's plugin configuration table.

Shared by the plugin class and the host (which reads the owner's settings from that
table), so neither imports the other.
"""

PLUGIN_ID = "saleor.lifecycle"
#: A new install stays off until the owner switches it on in the Dashboard.
DEFAULT_ACTIVE = False
