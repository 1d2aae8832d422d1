"""The Dashboard pages in a headless Chromium against a real Saleor, with tokens minted by Saleor's own functions.

Saleor's URLs (the plugin's route at /plugins/global/saleor.lifecycle/app/) run in this
process on a local port; tests/dashboard/harness.html, on another origin, frames a page
and speaks the Dashboard's AppBridge with a token from `create_access_token_for_app`
for the registered App, as the Dashboard's `app.accessToken` resolver mints it. A token
for another app and an expired one are refused and nothing is loaded; the settings page
saves into Saleor's plugin configuration only values the plugin's validation accepts.
"""

from . import require_saleor

require_saleor()

from datetime import timedelta  # noqa: E402

import pytest  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from freezegun import freeze_time  # noqa: E402
from saleor.app.models import App  # noqa: E402
from saleor.core.jwt import create_access_token_for_app  # noqa: E402

from lifecycle_plugin.rules import Stage, stage_label  # noqa: E402
from lifecycle_plugin.saleor.dashboard import registration  # noqa: E402
from tests.dashboard.browser import (  # noqa: E402
    DjangoServer,
    Tab,
    chromium_missing,
    launch_chromium,
    static_server,
    wait_error,
    wait_status,
)

if chromium_missing():
    pytest.skip(chromium_missing(), allow_module_level=True)

# Committed rows: the server's threads read them.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lifecycle_plugin")]

APP_ROOT = "/plugins/global/saleor.lifecycle/app/"


@pytest.fixture(autouse=True)
def replica_reads_from_the_test_database(settings):
    """Saleor reads the Site (for a token's issuer) through the replica alias. In these
    committed-transaction tests on 3.21 that alias still names the un-prefixed database,
    which does not exist ("database ... does not exist"); 3.22+ mirror it. Reading from
    the default alias is what a single-database deployment does anyway."""
    settings.DATABASE_CONNECTION_REPLICA_NAME = settings.DATABASE_CONNECTION_DEFAULT_NAME


@pytest.fixture(scope="module")
def dashboard():
    server, url = static_server()
    yield url
    server.shutdown()


@pytest.fixture(scope="module")
def saleor_server():
    server = DjangoServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(saleor_server):
    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture
def tab(browser, saleor_server, dashboard):
    opened = Tab(browser, saleor_server.url + APP_ROOT, dashboard)
    yield opened
    errors = opened.close()
    assert errors == [], f"console errors: {errors}"


@pytest.fixture
def lifecycle_app():
    return registration.install("https://shop.example")


@pytest.fixture
def manager(staff_user, permission_manage_users, permission_manage_plugins):
    staff_user.user_permissions.add(permission_manage_users, permission_manage_plugins)
    return staff_user


@pytest.fixture
def decided(customer_user):
    from tests.contract.command_contract import run

    run("lifecycle_backfill")
    return customer_user


def sql(query: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def test_the_overview_loads_with_the_dashboards_token_for_the_app(tab, lifecycle_app, manager, decided):
    frame = tab.open("overview", create_access_token_for_app(lifecycle_app, manager))
    wait_status(frame, "overview loaded")
    rows = frame.locator("#stages table tbody tr")
    shown = {rows.nth(i).locator("th").inner_text(): rows.nth(i).locator("td").inner_text() for i in range(rows.count())}
    counts = dict(sql("SELECT stage, count(*) FROM lifecycle_plugin_customerprofile GROUP BY stage"))
    assert shown == {stage_label(stage.value): str(counts.get(stage.value, 0)) for stage in Stage}
    assert frame.locator("#viewer-email").inner_text() == manager.email
    # The KPIs per stage and the retention heatmap load from Saleor's orders, per currency.
    frame.locator("#kpis table").first.wait_for()
    kpi_rows = frame.locator("#kpis table").first.locator("tbody tr")
    customers = {kpi_rows.nth(i).locator("th").inner_text(): kpi_rows.nth(i).locator("td").first.inner_text()
                 for i in range(kpi_rows.count())}
    assert customers.pop("All stages") == str(sum(counts.values()))
    assert customers == shown
    frame.locator("#cohorts table, #cohorts p.muted:not(:has-text('Loading'))").first.wait_for()
    assert frame.locator("#kpis .error, #cohorts .error").count() == 0


def test_the_card_shows_a_saleor_customer(tab, lifecycle_app, manager, decided):
    from graphene import Node

    stage = sql("SELECT stage FROM lifecycle_plugin_customerprofile WHERE user_id = %s", [decided.pk])[0][0]
    frame = tab.open("customer", create_access_token_for_app(lifecycle_app, manager),
                     query=f"customerId={Node.to_global_id('User', decided.pk)}")
    wait_status(frame)
    assert frame.locator("#card-stage").inner_text() == stage_label(stage)


def test_a_token_for_another_app_loads_nothing(tab, lifecycle_app, manager, permission_manage_users):
    other = App.objects.create(name="Other", identifier="other.app", type="thirdparty", is_active=True)
    other.permissions.add(permission_manage_users)
    frame = tab.open("overview", create_access_token_for_app(other, manager))
    wait_error(frame)
    assert "another app" in frame.locator("#status").inner_text()
    assert frame.locator("#content").is_hidden()


def test_an_expired_token_loads_nothing(tab, lifecycle_app, manager):
    with freeze_time(timezone.now() - timedelta(minutes=10)):
        token = create_access_token_for_app(lifecycle_app, manager)
    frame = tab.open("overview", token)
    wait_error(frame)
    assert "expired" in frame.locator("#status").inner_text().lower()
    assert frame.locator("#content").is_hidden()


def test_settings_save_into_saleors_plugin_configuration_only_when_valid(tab, lifecycle_app, manager, lifecycle_plugin):
    frame = tab.open("settings", create_access_token_for_app(lifecycle_app, manager))
    frame.wait_for_selector("#what-if-summary")
    before = sql("SELECT configuration FROM plugins_pluginconfiguration WHERE id = %s", [lifecycle_plugin.pk])
    field = frame.locator("#setting-at_risk_days")
    field.fill("0")
    frame.locator("#apply").click()
    frame.locator("#setting-at_risk_days-message").wait_for(state="visible")
    assert sql("SELECT configuration FROM plugins_pluginconfiguration WHERE id = %s", [lifecycle_plugin.pk]) == before
    field.fill("75")
    frame.locator("#apply").click()
    wait_status(frame, "saved.")
    # The recompute the save opened is shown (its progress, polled every 2 s).
    frame.locator("#recompute-state").wait_for()
    assert frame.locator("#recompute-state").get_attribute("data-state") in {"queued", "running", "done"}
    lifecycle_plugin.refresh_from_db()
    saved = {item["name"]: item["value"] for item in lifecycle_plugin.configuration}
    assert saved["at_risk_days"] == "75"
    assert saved["marketing_consent_required"] is False  # Boolean fields stay booleans, as the Dashboard saves them
    # Saleor's own validation of the plugin's configuration accepts what the page saved.
    from lifecycle_plugin.saleor.plugin import LifecyclePlugin

    LifecyclePlugin.validate_plugin_configuration(lifecycle_plugin)
