"""Bad templates: an unknown variable is refused when saved, naming it; a template that
raises while rendering sends nothing to that customer, says why in the ledger, and
leaves every other customer's message alone."""

import pytest

from lifecycle_plugin.actions import MESSAGE_ACTIONS
from lifecycle_plugin.conf import load_settings
from lifecycle_plugin.models import ActionStatus
from lifecycle_plugin.rules import ConfigError
from lifecycle_plugin.templating import PARTS, TEMPLATE_DIR

from .conftest import T0, buy, customer_account, only

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("source, named", [
    ("Hello {{ custmer.first_name }}", "custmer.first_name"),
    ("Hello {{ customer.nickname }}", "customer.nickname"),
    ("{% if voucher %}{{ voucher.cod }}{% endif %}", "voucher.cod"),
    ("{{ reminder.number }}", "reminder.number"),  # a win-back variable, not a repeat-purchase one
    ("{{ order.total|default:discount_code }}", "discount_code"),  # in a filter's argument too
])
def test_an_unknown_variable_is_refused_with_its_name(source, named):
    with pytest.raises(ConfigError) as refused:
        load_settings({"repeat_purchase_text_template": source})
    message = refused.value.errors["repeat_purchase_text_template"]
    assert named in message and "unknown template variable" in message


def test_known_variables_loop_variables_and_the_actions_own_are_accepted():
    load_settings({
        "review_request_html_template": "{% for p in products %}{{ p.name }} {{ forloop.counter }}{% endfor %}"
                                        "{% with who=customer.first_name %}{{ who }}{% endwith %}",
        "winback_reminder_subject_template": "Reminder {{ reminder.number }} of {{ reminder.count }}",
        "tier_upgrade_text_template": "{{ previous_tier_label }} to {{ new_tier_label }} {{ unsubscribe_url }}",
    })


@pytest.mark.parametrize("action", MESSAGE_ACTIONS)
@pytest.mark.parametrize("part", PARTS)
def test_the_shipped_templates_pass_the_check(action, part):
    source = (TEMPLATE_DIR / "lifecycle_plugin" / f"{action}.{PARTS[part][0]}").read_text()
    load_settings({f"{action}_{part}_template": source})


def test_a_template_that_raises_sends_nothing_to_that_customer_and_says_why(make_shop, host):
    raising = '{% if customer.first_name == "Bob" %}{% include "lifecycle_plugin/missing.txt" %}{% endif %}Hi'
    shop = make_shop(only("repeat_purchase", repeat_purchase_text_template=raising))
    customer_account(host, "bob@example.com", first_name="Bob")
    customer_account(host, "ann@example.com", first_name="Ann")
    buy(host, "bob@example.com", T0)
    buy(host, "ann@example.com", T0)
    shop.process("bob@example.com")
    shop.process("ann@example.com")

    [message] = shop.messages("repeat_purchase")
    assert message.customer.email == "ann@example.com"
    bob = next(e for e in shop.entries("repeat_purchase") if e.profile.email == "bob@example.com")
    assert bob.status == ActionStatus.SKIPPED
    assert bob.result["reason"].startswith("the template could not be rendered: TemplateDoesNotExist")
