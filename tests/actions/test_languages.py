"""A message in the customer's language when templates for it exist, else the default."""

import pytest

from .conftest import T0, buy, customer_account, only

pytestmark = pytest.mark.django_db


@pytest.fixture
def german(tmp_path, settings):
    folder = tmp_path / "lifecycle_plugin"
    folder.mkdir()
    (folder / "repeat_purchase.de.subject.txt").write_text("{{ voucher.discount }} Rabatt für Ihre nächste Bestellung")
    (folder / "repeat_purchase.de.txt").write_text("Hallo {{ customer.first_name }}, Ihr Code: {{ voucher.code }}")
    settings.LIFECYCLE_TEMPLATE_DIRS = [str(tmp_path)]


def first_order(shop, host, email, language, **names):
    customer_account(host, email, **names)
    if language:
        host.languages[email] = language
    buy(host, email, T0)
    shop.process(email)
    [message] = [m for m in shop.messages("repeat_purchase") if m.customer.email == email]
    return message


def test_a_customer_gets_their_language_when_its_templates_exist(make_shop, host, german):
    shop = make_shop(only("repeat_purchase"))
    message = first_order(shop, host, "ann@example.com", "de-AT", first_name="Ann")  # falls back to de
    assert message.subject == "10% Rabatt für Ihre nächste Bestellung"
    assert message.text.startswith("Hallo Ann, Ihr Code: LC-")
    assert message.html == ""  # no German HTML: none rather than English in the same message
    assert message.payload["language"] == "de"


def test_others_get_the_default_and_the_owners_templates(make_shop, host, german):
    shop = make_shop(only("repeat_purchase", repeat_purchase_subject_template="Your {{ voucher.discount }} gift"))
    french = first_order(shop, host, "bob@example.com", "fr")
    unknown = first_order(shop, host, "cy@example.com", "")
    assert french.subject == unknown.subject == "Your 10% gift"
    assert french.payload["language"] == "" and "Hello" in french.text
    german_one = first_order(shop, host, "dora@example.com", "de")
    assert german_one.subject.endswith("Rabatt für Ihre nächste Bestellung")  # the language beats the override
