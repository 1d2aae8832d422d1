"""The built-in stage actions.

=====================  ==============================================  ===========================
action                 when                                            what
=====================  ==============================================  ===========================
``repeat_purchase``    a customer enters a trigger stage (``new``)     personal voucher + message
``tier_upgrade``       the loyalty tier goes up                        message (+ optional voucher)
``review_request``     N days after an order is fulfilled              message listing its products
``winback_reminder``   a customer becomes ``at_risk`` / ``lapsed``     reminders at an interval,
                                                                       stopped by the next order
                                                                       (+ optional voucher)
``welcome``            an account is created (``lead``)                welcome (+ optional first-
                                                                       order voucher), then nurture
                                                                       messages until they order
``abandoned_checkout`` a checkout with lines stops changing           reminder (+ optional second)
                                                                       listing its lines, stopped
                                                                       by completing or emptying it
``referral_code``      a customer enters ``repeat`` / ``loyal``        a shareable referral code
``referral_reward``    a new customer's order with the code is paid    reward voucher + message
                       and past the return window
=====================  ==============================================  ===========================

Four are **marketing** (repeat purchase, tier upgrade, win-back, abandoned checkout): by default a
customer who has not agreed to marketing gets neither their messages nor their
vouchers, and each message carries an unsubscribe link. The review request is
**transactional**, about an order the customer placed: it needs consent only when the
owner says so (``transactional_consent_required``). See ``base.has_consent``. A win-back
order is also logged as a ``winback_order`` ledger entry.

How they stay idempotent: the hook that decides (stage, tier, order hooks, or a
scheduled action that has come due) writes ledger rows with unique dedupe keys in
the deciding transaction; the work happens after the commit in
``lifecycle_run_action``. An action that hands out a voucher writes two rows, the
voucher (``<action>_voucher``) and the message (``<action>``); the message reads the
code from the finished voucher entry, so a message that fails and is retried
announces the same voucher and never issues a second one.

Each module here is a pluggy plugin listed in ``hooks.BUILTIN_PLUGINS``. Each
declares the settings it reads through ``lifecycle_declare_settings``, with the
parsers and builders of ``options.py``, as a third-party action does.
"""

REPEAT_PURCHASE = "repeat_purchase"
TIER_UPGRADE = "tier_upgrade"
REVIEW_REQUEST = "review_request"
WINBACK_REMINDER = "winback_reminder"
ABANDONED_CHECKOUT = "abandoned_checkout"
REFERRAL_CODE = "referral_code"
REFERRAL_REWARD = "referral_reward"
#: Bookkeeping only: an order that brought back an at-risk or lapsed customer.
WINBACK_ORDER = "winback_order"
WELCOME = "welcome"
WELCOME_NURTURE = "welcome_nurture"
#: Bookkeeping only: a welcome sequence stopped early (the customer ordered or left lead).
WELCOME_STOPPED = "welcome_stopped"

#: Actions that send a message, each with its own templates and switch.
MESSAGE_ACTIONS = (REPEAT_PURCHASE, TIER_UPGRADE, REVIEW_REQUEST, WINBACK_REMINDER, WELCOME, WELCOME_NURTURE,
                   ABANDONED_CHECKOUT, REFERRAL_CODE, REFERRAL_REWARD)

#: Messages and vouchers that need the customer's consent to marketing: they promote
#: the shop (a discount, tier news, a reminder to come back).
MARKETING_ACTIONS = frozenset({REPEAT_PURCHASE, TIER_UPGRADE, WINBACK_REMINDER, WELCOME, WELCOME_NURTURE,
                               ABANDONED_CHECKOUT, REFERRAL_CODE})
#: Messages about something the customer did (the review request asks about their
#: order): consent only when ``transactional_consent_required`` is on, no unsubscribe link.
#: The referral reward is earned by what the customer did (a friend's order), so it too.
TRANSACTIONAL_ACTIONS = frozenset({REVIEW_REQUEST, REFERRAL_REWARD})

__all__ = [
    "ABANDONED_CHECKOUT",
    "MARKETING_ACTIONS",
    "MESSAGE_ACTIONS",
    "REFERRAL_CODE",
    "REFERRAL_REWARD",
    "REPEAT_PURCHASE",
    "REVIEW_REQUEST",
    "TIER_UPGRADE",
    "TRANSACTIONAL_ACTIONS",
    "WELCOME",
    "WELCOME_NURTURE",
    "WELCOME_STOPPED",
    "WINBACK_ORDER",
    "WINBACK_REMINDER",
]
