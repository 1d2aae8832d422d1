"""Review request: N days after an order is fulfilled, ask for reviews of its products.

The fulfilment hook stores the due time as a scheduled action (one per order, the
order id is the key), so nothing is asked before fulfilment and a restart loses
nothing. When it comes due the order is read again: a cancelled order, or one with
any refund (the customer had a problem with it), gets no request. Only then is the
message written to the ledger and sent.
"""

from __future__ import annotations

from datetime import timedelta

from .. import hookimpl
from ..conf import STRING, Setting
from ..rules import OrderState
from ..rules.config import MAX_DAYS
from . import REVIEW_REQUEST
from .base import is_enabled, option, skip
from .offers import enqueue_message, order_data, products_data, send_message
from .options import parse_days, switch_setting, template_settings


_LABEL = "Review request"
SETTINGS = [
    switch_setting("review_request_enabled", f"{_LABEL}: on",
                   "Ask customers to review the products of an order some days after it was fulfilled; "
                   "once per order, never for a cancelled or refunded one."),
    Setting("review_request_delay_days", "14", STRING, f"{_LABEL}: days after fulfilment",
            f"How many days after an order is fulfilled the request is sent (1 to {MAX_DAYS}).", parse_days),
    *template_settings(REVIEW_REQUEST, _LABEL),
]


@hookimpl
def lifecycle_declare_settings():
    return SETTINGS


@hookimpl
def lifecycle_order_fulfilled(context, order):
    if not is_enabled(context, REVIEW_REQUEST) or order.fulfilled_at is None:
        return
    delay = timedelta(days=option(context, "review_request_delay_days"))
    context.schedule(
        REVIEW_REQUEST, key=order.order_id, due_at=order.fulfilled_at + delay, payload={"order_id": order.order_id}
    )


def _current_order(context, order_id):
    customer = context.profile.customer
    facts = context.host.read_facts([customer]).get(customer)
    return next((o for o in facts.orders if o.order_id == order_id), None) if facts else None


def _decide(context, entry):
    """The request has come due: check the order again, then write the message to the ledger."""
    order_id = entry.payload["order_id"]
    order = _current_order(context, order_id)
    if order is None:
        return skip("the order is no longer known")
    if order.state is not OrderState.PLACED:
        return skip(f"the order is {order.state.value}")
    if order.refunded > 0:
        return skip("the order was refunded")
    if order.fulfilled_at is None:
        return skip("the order is not fulfilled")
    due_at = order.fulfilled_at + timedelta(days=option(context, "review_request_delay_days"))
    if context.now < due_at:
        # Fulfilled again later than when this was scheduled: ask N days after that instead.
        context.schedule(REVIEW_REQUEST, key=f"{order_id}:{order.fulfilled_at:%Y%m%dT%H%M%S}", due_at=due_at,
                         payload={"order_id": order_id})
        return skip("the order was fulfilled later; asked again when that is due")
    lookup = getattr(context.host, "order_products", None)
    products = lookup([order_id]).get(order_id, []) if lookup is not None else []
    enqueue_message(
        context, REVIEW_REQUEST, key=order_id, data={"order": order_data(order), "products": products_data(products)}
    )
    return {"enqueued": order_id}


@hookimpl
def lifecycle_run_action(context, entry):
    if entry.action != REVIEW_REQUEST:
        return None
    if not is_enabled(context, REVIEW_REQUEST):
        return skip("switched off")
    if entry.kind == "scheduled":
        return _decide(context, entry)
    return send_message(context, entry)
