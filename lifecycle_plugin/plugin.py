"""The Saleor entry point: ``lifecycle_plugin.plugin.LifecyclePlugin``.

The plugin lives in ``lifecycle_plugin.saleor.plugin``; import it from there. This
path stays because Saleor reaches the plugin through it: the ``saleor.plugins`` entry
point names it, existing ``PLUGINS`` settings list it, and Saleor's Celery discovers a
plugin's tasks in the package of the module its path names (``lifecycle_plugin.tasks``
here; ``lifecycle_plugin.saleor`` has none). The class is the same object under both
paths, and its PLUGIN_ID (which keys the configuration Saleor stores) is unchanged.
"""

from .saleor.plugin import PLUGIN_ID, LifecyclePlugin

__all__ = ["PLUGIN_ID", "LifecyclePlugin"]
