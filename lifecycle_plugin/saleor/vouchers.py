"""Personal vouchers in Saleor's checkout: who a voucher was issued to, and the refusal of
a checkout that redeems another customer's voucher (`SaleorHost.issue_voucher` issues them)."""

from __future__ import annotations

from ..host import VOUCHER_NOT_YOURS, CustomerRef, is_voucher_owner

#: The voucher's owner, in the voucher's private metadata: the e-mail, and the account
#: id when the customer has an account. Not in public metadata, which Saleor shows to
#: whoever placed an order with the voucher (`Order.voucher` has no permission).
VOUCHER_OWNER_KEY, VOUCHER_OWNER_ID_KEY = "lifecycle.customer", "lifecycle.customer_id"


def voucher_owner(voucher) -> CustomerRef | None:
    """The customer a voucher was issued to; None for a voucher the plugin did not issue."""
    # Vouchers issued before the owner moved to private metadata have it in public metadata.
    for metadata in (voucher.private_metadata or {}, voucher.metadata or {}):
        email, user_id = metadata.get(VOUCHER_OWNER_KEY) or "", metadata.get(VOUCHER_OWNER_ID_KEY)
        if email or user_id:
            return CustomerRef.of(email, int(user_id) if user_id else None)
    return None


def refuse_another_customers_voucher(checkout_info) -> None:
    """Raise a ValidationError when the checkout redeems a voucher issued to someone else.

    Saleor (3.21 to 3.23) has no field that ties a voucher to a customer, so the
    plugin checks the owner in `preprocess_order_creation`, which every way of turning
    a checkout into an order calls (checkoutComplete with transactions or with a
    payment, orderCreateFromCheckout). The checkout's customer is the one Saleor counts
    voucher usage for: the signed-in account, else the checkout's e-mail.
    """
    from django.core.exceptions import ValidationError
    from saleor.checkout.error_codes import CheckoutErrorCode

    voucher = checkout_info.voucher
    owner = voucher_owner(voucher) if voucher is not None else None
    if owner is None:
        return
    user = checkout_info.user
    if user is not None:
        redeemer = CustomerRef.of(user.email or "", user.pk)
    else:
        redeemer = CustomerRef.of(checkout_info.checkout.email or "")
    if is_voucher_owner(owner, redeemer):
        return
    _give_back_usage(checkout_info)
    raise ValidationError(
        {"voucher_code": ValidationError(VOUCHER_NOT_YOURS, code=CheckoutErrorCode.VOUCHER_NOT_APPLICABLE.value)}
    )


def _give_back_usage(checkout_info) -> None:
    """Undo the use Saleor already counted, so that the refusal does not burn the owner's code.

    With a payment (the older payments API) Saleor counts the use (a single-use code
    is deactivated, the checkout flagged) before it asks the plugins, gives it back
    only when a plugin raises a tax error, and commits on errors. With transactions,
    and in orderCreateFromCheckout, nothing has been counted yet.
    """
    from saleor.discount.utils.voucher import get_customer_email_for_voucher_usage, release_voucher_code_usage

    checkout = checkout_info.checkout
    if not checkout.is_voucher_usage_increased:
        return
    release_voucher_code_usage(
        checkout_info.voucher_code, checkout_info.voucher, get_customer_email_for_voucher_usage(checkout_info)
    )
    checkout.is_voucher_usage_increased = False
    checkout.save(update_fields=["is_voucher_usage_increased"])
