"""The Saleor plugin: Dashboard settings, event hooks and the GraphQL endpoint.

Saleor loads it as ``lifecycle_plugin.plugin.LifecyclePlugin`` (the entry point), which
is this class: see ``lifecycle_plugin/plugin.py`` for why that path stays.

Importable only inside Saleor. Every event hook does a constant, small amount of work
(read the customer's id and e-mail off the object it is given, add one inbox row),
never raises, and leaves the rest to a Celery task after the commit. The one
exception is `preprocess_order_creation`: it checks a lifecycle voucher's owner while
Saleor turns a checkout into an order, and refuses someone else's with a
ValidationError (any other failure of its own is logged and the order goes on). The tasks
re-read the facts from Saleor's tables, so repeated and out-of-order events (``order_fully_paid``
twice, ``orderMarkAsPaid`` without ``order_paid``, bulk imports with only
``order_bulk_created``) converge on the same result.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from saleor.plugins.base_plugin import BasePlugin, ConfigurationTypeField
from saleor.plugins.error_codes import PluginErrorCode

from .. import conf
from ..rules import ConfigError
from .plugin_identity import DEFAULT_ACTIVE, PLUGIN_ID

logger = logging.getLogger(__name__)


_FIELD_TYPES = {
    conf.STRING: ConfigurationTypeField.STRING,
    conf.MULTILINE: ConfigurationTypeField.MULTILINE,
    conf.BOOLEAN: ConfigurationTypeField.BOOLEAN,
    conf.SECRET: ConfigurationTypeField.SECRET,
}


def _dashboard_value(setting: conf.Setting) -> Any:
    if setting.type == conf.BOOLEAN:
        return setting.default == "true"
    return setting.default


class _FromSettings:
    """A class attribute built from the declared settings each time it is read.

    Saleor reads CONFIG_STRUCTURE and DEFAULT_CONFIGURATION off the class (and off its
    instances). The settings come from every loaded plugin's ``lifecycle_declare_settings``,
    which imports the actions and so needs Django's apps ready: too early when Saleor
    imports this module, and a third-party plugin registered later would be missed. A
    fresh value each time also means no caller can change the next caller's copy.
    """

    def __init__(self, build):
        self.build = build

    def __get__(self, instance, owner):
        return self.build(conf.all_settings())


def _config_structure(settings: list[conf.Setting]) -> dict[str, dict]:
    return {
        s.name: {"type": _FIELD_TYPES[s.dashboard_type], "label": s.label, "help_text": s.help_text}
        for s in settings
    }


def _default_configuration(settings: list[conf.Setting]) -> list[dict]:
    return [{"name": s.name, "value": _dashboard_value(s)} for s in settings]


def _queue(customers, event: str) -> None:
    """Add the event of (e-mail, account id) pairs to the inbox, in one statement.

    Inside Saleor's transaction when one is open, so the event commits with the order,
    checkout or account it is about and the drain never sees an event of a rolled-back
    change; the drain is queued after the commit. Saleor calls many hooks after its own
    commit: then the row is written at once. A failed write (the connection dropped)
    is logged and rolled back to its savepoint, Saleor's transaction goes on, and the
    periodic reconciliation finds the change the event was about.
    """
    from ..tasks import queue_events

    events = [(email, user_id, event) for email, user_id in customers if email]
    if not events:
        return
    try:
        queue_events(events)
    except Exception:
        logger.exception("lifecycle plugin: %s events of %s not added to the inbox; the reconciliation "
                         "will find the change", len(events), event)


def _guarded(hook):
    """A hook that raises would turn Saleor's committed order into an error and skip
    its later events, so every hook logs its failure and returns previous_value."""

    def wrapper(self, *args, previous_value=None, **kwargs):
        if self.active:
            try:
                hook(self, *args, **kwargs)
            except Exception:
                logger.exception("lifecycle plugin hook %s failed", hook.__name__)
        return previous_value

    wrapper.__name__ = hook.__name__
    wrapper.__doc__ = hook.__doc__
    return wrapper


def _email_of(obj) -> str | None:
    """The e-mail that keys the customer of an order or checkout.

    A customer's own orders and checkouts may carry another contact e-mail than
    their account (Saleor lets them change it), so the account's e-mail wins;
    otherwise the profile would be keyed by whichever e-mail the last event carried.
    """
    if getattr(obj, "user_id", None):
        return obj.user.email
    return getattr(obj, "user_email", None) or getattr(obj, "email", None)


class LifecyclePlugin(BasePlugin):
    PLUGIN_ID = PLUGIN_ID
    PLUGIN_NAME = "Customer lifecycle"
    PLUGIN_DESCRIPTION = (
        "Keeps each customer's lifecycle stage (visitor, lead, prospect, new, repeat, loyal, "
        "at risk, lapsed) and loyalty tier up to date, and runs stage-based actions."
    )
    CONFIGURATION_PER_CHANNEL = False
    DEFAULT_ACTIVE = DEFAULT_ACTIVE

    DEFAULT_CONFIGURATION = _FromSettings(_default_configuration)
    CONFIG_STRUCTURE = _FromSettings(_config_structure)

    @classmethod
    def validate_plugin_configuration(cls, plugin_configuration, **kwargs):
        """Refuse a save with a message per bad field; Saleor then changes nothing."""
        values = {item["name"]: item["value"] for item in plugin_configuration.configuration}
        try:
            conf.check_before_saving(conf.normalise_dashboard_values(values))
        except ConfigError as exc:
            raise ValidationError(
                {
                    name: ValidationError(message, code=PluginErrorCode.INVALID.value)
                    for name, message in conf.dashboard_messages(exc).items()
                }
            ) from exc

    @classmethod
    def save_plugin_configuration(cls, plugin_configuration, cleaned_data):
        """Saleor's save, then a recompute of the customers changed thresholds affect,
        queued once the save commits (`engine.recompute`); the run row commits with it."""
        from django.db import transaction

        from ..tasks import settings_saved

        old = {item["name"]: item["value"] for item in plugin_configuration.configuration or ()}
        with transaction.atomic():
            saved = super().save_plugin_configuration(plugin_configuration, cleaned_data)
            new = {item["name"]: item["value"] for item in saved.configuration or ()}
            settings_saved(old, new)
        return saved

    # ------------------------------------------------------------------ accounts
    # Deleted accounts are not a hook: `lifecycle_plugin.signals` handles them, so that
    # a deletion is carried out while the plugin is switched off too.

    @_guarded
    def customer_created(self, customer):
        self._customer_changed(customer, "customer_created")

    @_guarded
    def customer_updated(self, customer, webhooks=None):
        self._customer_changed(customer, "customer_updated")

    @_guarded
    def account_confirmed(self, user):
        self._customer_changed(user, "account_confirmed")

    @_guarded
    def customer_metadata_updated(self, customer, webhooks=None):
        """Customers can write their own public metadata: put a spoofed stage back at once."""
        from .projection import restore_projection

        restore_projection(customer)

    # ------------------------------------------------------------------ checkouts

    @_guarded
    def checkout_created(self, checkout, webhooks=None):
        self._checkout_changed(checkout, "checkout_created")

    @_guarded
    def checkout_updated(self, checkout, webhooks=None):
        self._checkout_changed(checkout, "checkout_updated")

    # ------------------------------------------------------------------ orders

    @_guarded
    def order_created(self, order, webhooks=None):
        self._order_changed(order, "order_created")

    @_guarded
    def order_confirmed(self, order, webhooks=None):
        self._order_changed(order, "order_confirmed")

    @_guarded
    def order_paid(self, order, webhooks=None):
        self._order_changed(order, "order_paid")

    @_guarded
    def order_fully_paid(self, order, webhooks=None):
        self._order_changed(order, "order_fully_paid")

    @_guarded
    def order_cancelled(self, order, webhooks=None):
        self._order_changed(order, "order_cancelled")

    @_guarded
    def order_expired(self, order, webhooks=None):
        self._order_changed(order, "order_expired")

    @_guarded
    def order_refunded(self, order, webhooks=None):
        self._order_changed(order, "order_refunded")

    @_guarded
    def order_fully_refunded(self, order, webhooks=None):
        self._order_changed(order, "order_fully_refunded")

    @_guarded
    def order_fulfilled(self, order, webhooks=None):
        self._order_changed(order, "order_fulfilled")

    @_guarded
    def order_bulk_created(self, orders):
        _queue({(_email_of(o), o.user_id) for o in orders}, "order_bulk_created")

    # ------------------------------------------------------------------ vouchers

    def preprocess_order_creation(self, checkout_info, lines=None, previous_value=None):
        """Refuse a checkout that redeems a voucher the plugin issued to another customer.

        Saleor calls this right before it turns a checkout into an order, so the
        refusal reaches the shopper as a checkoutComplete error. That ValidationError
        is the only one the hook lets through: if the check itself fails, it is logged
        and the checkout goes on, as with every other hook.
        """
        if not self.active:
            return previous_value
        from .vouchers import refuse_another_customers_voucher

        try:
            refuse_another_customers_voucher(checkout_info)
        except ValidationError:
            raise
        except Exception:
            logger.exception("lifecycle plugin hook preprocess_order_creation failed")
        return previous_value

    # ------------------------------------------------------------------ HTTP

    def webhook(self, request, path, previous_value):
        """Serves the GraphQL API at /plugins/global/saleor.lifecycle/graphql/, and the
        unsubscribe page at .../unsubscribe/."""
        from .views import handle_request, handle_unsubscribe

        unsubscribe = handle_unsubscribe(request, path)
        if unsubscribe is not None:
            return unsubscribe
        # The legacy route /plugins/<id>/ reaches here even when the plugin is off.
        if not self.active:
            return previous_value
        return handle_request(request, path, previous_value)

    # ------------------------------------------------------------------ helpers

    def _customer_changed(self, user, event: str) -> None:
        if user.email and not user.is_staff:
            _queue([(user.email, user.pk)], event)

    def _checkout_changed(self, checkout, event: str) -> None:
        _queue([(_email_of(checkout), checkout.user_id)], event)

    def _order_changed(self, order, event: str) -> None:
        _queue([(_email_of(order), order.user_id)], event)
