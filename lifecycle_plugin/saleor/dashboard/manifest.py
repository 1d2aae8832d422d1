"""The Dashboard app's manifest, built in-process for the running Saleor version.

The mounts, targets and required fields differ between Saleor 3.21, 3.22 and 3.23
(SALEOR_NOTES §15.1): the customer card is a widget on the customer page from 3.22
on, a popup in the customer page's menu on 3.21; 3.21 and 3.22 require a
`tokenTargetUrl`; 3.23 keys extensions by `identifier`. `validated_manifest` runs
Saleor's own `clean_manifest_data` on it, which also normalises mounts and targets to
the lowercase values Saleor stores.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ... import __version__
from ..plugin_identity import PLUGIN_ID

#: The App's identifier in Saleor (`App.identifier`), how registration finds it again.
APP_IDENTIFIER = f"{PLUGIN_ID}.dashboard"
APP_NAME = "Customer lifecycle"
#: Where the pages live: under the plugin's own route, so they answer 404 while it is off.
APP_PATH = f"/plugins/global/{PLUGIN_ID}/app/"
MANAGE_USERS = "MANAGE_USERS"
MANAGE_PLUGINS = "MANAGE_PLUGINS"


@dataclass(frozen=True, order=True)
class SaleorVersion:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> SaleorVersion:
        major, minor = text.split(".")[:2]
        return cls(int(major), int(minor))

    @classmethod
    def running(cls) -> SaleorVersion:
        import saleor

        return cls.parse(saleor.__version__)

    @property
    def has_widgets(self) -> bool:
        return (self.major, self.minor) >= (3, 22)

    @property
    def has_extension_identifiers(self) -> bool:
        return (self.major, self.minor) >= (3, 23)

    @property
    def requires_token_target_url(self) -> bool:
        return (self.major, self.minor) < (3, 23)


def app_url(base_url: str) -> str:
    """The App's URL. It ends in "/": the Dashboard joins APP_PAGE paths onto it."""
    return base_url.rstrip("/") + APP_PATH


def build_manifest(base_url: str, version: SaleorVersion) -> dict:
    """The manifest for a Saleor reachable at `base_url` (scheme and host, e.g. https://shop.example).

    APP_PAGE extensions use paths relative to appUrl (3.21 refuses absolute ones); the
    card's widget or popup an absolute URL, which Saleor and the Dashboard use as it is.
    """
    root = app_url(base_url)
    extensions = [
        {
            "identifier": "lifecycle-overview",
            "label": "Customer lifecycle",
            "mount": "NAVIGATION_CUSTOMERS",
            "target": "APP_PAGE",
            "url": "/overview/",
            "permissions": [MANAGE_USERS],
        },
        {
            "identifier": "lifecycle-settings",
            "label": "Lifecycle settings",
            "mount": "NAVIGATION_CUSTOMERS",
            "target": "APP_PAGE",
            "url": "/settings/",
            "permissions": [MANAGE_USERS, MANAGE_PLUGINS],
        },
        {
            "identifier": "lifecycle-messages",
            "label": "Lifecycle messages",
            "mount": "NAVIGATION_CUSTOMERS",
            "target": "APP_PAGE",
            "url": "/messages/",
            "permissions": [MANAGE_USERS],
        },
        _customer_card(root, version),
    ]
    if not version.has_extension_identifiers:
        for extension in extensions:
            del extension["identifier"]
    manifest = {
        "id": APP_IDENTIFIER,
        "name": APP_NAME,
        "version": __version__,
        "about": "Lifecycle stages, loyalty tiers and stage-based actions of your customers, "
        "served by the saleor-lifecycle plugin.",
        "permissions": [MANAGE_USERS, MANAGE_PLUGINS],
        "appUrl": root,
        "extensions": extensions,
    }
    if version.requires_token_target_url:
        # Saleor posts an app token there only when it installs from a manifest URL;
        # `registration` installs in-process and needs no token, so nothing serves it.
        manifest["tokenTargetUrl"] = root + "register/"
    return manifest


def _customer_card(root: str, version: SaleorVersion) -> dict:
    card = {
        "identifier": "lifecycle-customer-card",
        "label": "Lifecycle",
        "url": root + "customer/",
        "permissions": [MANAGE_USERS],
    }
    if version.has_widgets:
        return {**card, "mount": "CUSTOMER_DETAILS_WIDGETS", "target": "WIDGET",
                "options": {"widgetTarget": {"method": "GET"}}}
    return {**card, "mount": "CUSTOMER_DETAILS_MORE_ACTIONS", "target": "POPUP"}


def validated_manifest(manifest: dict, *, updating: bool = False) -> dict:
    """The manifest as Saleor's `clean_manifest_data` leaves it; raises its ValidationError.

    Saleor's validation refuses an identifier that is already installed, and skips the
    extension checks once it has refused it. An update of our own App therefore
    validates a copy under an identifier nothing can hold, so that every other check
    still runs; the identifier itself is not part of what changes.
    """
    from saleor.app.manifest_validations import clean_manifest_data

    cleaned = copy.deepcopy(manifest)
    if updating:
        cleaned["id"] = f"{APP_IDENTIFIER}.update-check"
    clean_manifest_data(cleaned)
    cleaned["id"] = manifest["id"]
    return cleaned
