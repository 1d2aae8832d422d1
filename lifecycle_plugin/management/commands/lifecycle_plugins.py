"""List the lifecycle plugins this process loads: the built-in actions and every
package registered under the `lifecycle_plugin` entry-point group."""

from django.core.management.base import BaseCommand

from ...hooks import describe_plugins, process_plugin_manager


class Command(BaseCommand):
    help = "List the loaded lifecycle plugins, where each comes from, and the hooks it implements."

    def handle(self, *args, **options):
        plugins = describe_plugins(process_plugin_manager())
        for plugin in plugins:
            source = "built in" if plugin.builtin else (
                f"{plugin.distribution} {plugin.version}" if plugin.distribution else "registered by code")
            self.stdout.write(f"{plugin.name} ({source})")
            self.stdout.write("    " + (", ".join(plugin.hooks) or "no hooks"))
        third_party = sum(1 for plugin in plugins if not plugin.builtin)
        self.stdout.write(f"{len(plugins)} plugins: {len(plugins) - third_party} built in, {third_party} installed.")
