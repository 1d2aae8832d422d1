"""Personal vouchers in Saleor's checkout: who a voucher was issued to, and the refusal of
a checkout that redeems another customer's voucher (`SaleorHost.issue_voucher` issues them)."""

from __future__ import annotations

from ..host import OWN_REFERRAL_CODE, VOUCHER_NOT_YOURS, CustomerRef, may_redeem

#: The voucher's owner, in the voucher's private metadata: the e-mail, and the account
#: id when the customer has an account. Not in public metadata, which Saleor shows to
#: whoever placed an order with the voucher (`Order.voucher` has no permission).
VOUCHER_OWNER_KEY, VOUCHER_OWNER_ID_KEY = "lifecycle.customer", "lifecycle.customer_id"
#: The owner of a referral code (a shareable voucher: anyone but the owner may use it).
REFERRER_KEY, REFERRER_ID_KEY = "lifecycle.referrer", "lifecycle.referrer_id"


def voucher_owner_metadata(customer: CustomerRef, shareable: bool) -> dict[str, str]:
    """The private metadata naming a voucher's owner: a personal voucher's, or a referral code's."""
    email_key, id_key = (REFERRER_KEY, REFERRER_ID_KEY) if shareable else (VOUCHER_OWNER_KEY, VOUCHER_OWNER_ID_KEY)
    owner = {email_key: customer.email}
    if customer.user_id is not None:
        owner[id_key] = str(customer.user_id)
    return owner


def voucher_owner(voucher) -> CustomerRef | None:
    """The customer a personal voucher was issued to; None for a voucher the plugin did not issue."""
    # Vouchers issued before the owner moved to private metadata have it in public metadata.
    for metadata in (voucher.private_metadata or {}, voucher.metadata or {}):
        email, user_id = metadata.get(VOUCHER_OWNER_KEY) or "", metadata.get(VOUCHER_OWNER_ID_KEY)
        if email or user_id:
            return CustomerRef.of(email, int(user_id) if user_id else None)
    return None


def referral_code_owner(voucher) -> CustomerRef | None:
    """The referrer whose referral code `voucher` is; None for any other voucher."""
    metadata = voucher.private_metadata or {}
    email, user_id = metadata.get(REFERRER_KEY) or "", metadata.get(REFERRER_ID_KEY)
    if email or user_id:
        return CustomerRef.of(email, int(user_id) if user_id else None)
    return None


def refuse_another_customers_voucher(checkout_info) -> None:
    """Raise a ValidationError when the checkout redeems a voucher issued to someone else,
    or the customer's own referral code (`OWN_REFERRAL_CODE`).

    Saleor (3.21 to 3.23) has no field that ties a voucher to a customer, so the
    plugin checks the owner in `preprocess_order_creation`, which every way of turning
    a checkout into an order calls (checkoutComplete with transactions or with a
    payment, orderCreateFromCheckout). The checkout's customer is the one Saleor counts
    voucher usage for: the signed-in account, else the checkout's e-mail.
    """
    from django.core.exceptions import ValidationError
    from saleor.checkout.error_codes import CheckoutErrorCode

    voucher = checkout_info.voucher
    if voucher is None:
        return
    owner, shareable = voucher_owner(voucher), False
    if owner is None:
        owner, shareable = referral_code_owner(voucher), True
    if owner is None:
        return
    user = checkout_info.user
    if user is not None:
        redeemer = CustomerRef.of(user.email or "", user.pk)
    else:
        redeemer = CustomerRef.of(checkout_info.checkout.email or "")
    if may_redeem(owner, redeemer, shareable):
        return
    _give_back_usage(checkout_info)
    message = OWN_REFERRAL_CODE if shareable else VOUCHER_NOT_YOURS
    raise ValidationError(
        {"voucher_code": ValidationError(message, code=CheckoutErrorCode.VOUCHER_NOT_APPLICABLE.value)}
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
