"""The plugin's pages inside the Saleor Dashboard: a third-party App the plugin serves itself.

- `manifest`: the App's manifest for the running Saleor version, checked by Saleor's own
  manifest validation;
- `registration`: installs, updates and removes that App (the `lifecycle_dashboard` command);
- `auth`: the pages' API accepts only the Dashboard's app tokens minted for that App;
- `pages`: the pages and their script, under the plugin's URL.

Importable only inside Saleor. See docs/dashboard.md.
"""
