"""The lifecycle pages in a real headless Chromium, framed by a harness that speaks the Dashboard's AppBridge.

The sandbox serves the pages and their API (Django's live server, on the demo store);
`harness.html`, served from another origin as the Saleor Dashboard is, frames a page and
plays the Dashboard's side exactly as its AppFrame does (origin check, actionId,
handshake again on notifyReady, tokenRefresh, theme). Chromium is the OS's
(/usr/bin/chromium, Debian's `chromium` package, which `.ci/run` installs), driven by
Playwright's Python package; Playwright's own browsers are never downloaded.

Every figure on a page is compared with plain SQL over the rows the demo wrote. Each test
also checks that the browser logged no console error. The screenshots in docs/screenshots/
are taken here; the timings (page interactive, card, what-if) are printed, not asserted.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from decimal import Decimal
from unittest import mock
from urllib.parse import quote

import pytest
from django.db import connection

from lifecycle_plugin.rules import Stage, stage_label

from .browser import DjangoServer, Tab, chromium_missing, launch_chromium, static_server, wait_error, wait_status

DEMO_CUSTOMERS = 300

if chromium_missing():
    pytest.skip(chromium_missing(), allow_module_level=True)
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def origins():
    """The Dashboard's origin (the harness) and an intruder's, both other than the pages'."""
    dashboard, dashboard_url = static_server()
    intruder, intruder_url = static_server()
    yield dashboard_url, intruder_url
    dashboard.shutdown()
    intruder.shutdown()


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The sandbox's demo store, committed (the server's threads read it), removed afterwards."""
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command

    from lifecycle_plugin.sandbox import cli

    with django_db_blocker.unblock():
        started = time.perf_counter()
        assert cli.main(["--no-progress", "demo", "--customers", str(DEMO_CUSTOMERS)]) == 0
        print(f"\n[timing] demo store of {DEMO_CUSTOMERS} customers: {time.perf_counter() - started:.1f} s")
        owner = User.objects.create_superuser("owner", "owner@sandbox.example", "owner-password")
        reader = User.objects.create_user("reader", "reader@sandbox.example", "reader-password", is_staff=True)
        reader.user_permissions.add(Permission.objects.get(codename="change_user", content_type__app_label="auth"))
        yield {"owner": owner, "reader": reader}
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def pages_server(demo):
    server = DjangoServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(pages_server):
    with launch_chromium() as chromium:
        yield chromium


class Session(Tab):
    def __init__(self, browser, pages_server, origins, django_db_blocker):
        super().__init__(browser, f"{pages_server.url}/app/", *origins)
        self.blocker = django_db_blocker

    def sql(self, query: str, params=()) -> list[tuple]:
        with self.blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()


@pytest.fixture
def tab(browser, pages_server, origins, demo, django_db_blocker):
    session = Session(browser, pages_server, origins, django_db_blocker)
    yield session
    errors = session.close()
    assert errors == [], f"console errors: {errors}"
    assert session.outside == [], f"requests outside the package: {session.outside}"


def token_for(user, *, at: float | None = None) -> str:
    from lifecycle_plugin.sandbox.dashboard import issue_pages_token

    if at is None:
        return issue_pages_token(user)
    with mock.patch("django.core.signing.time.time", return_value=at):
        return issue_pages_token(user)


def status(frame) -> str:
    return frame.locator("#status").inner_text()


wait_loaded = wait_status


def timing(frame, name: str) -> int:
    return int(frame.locator("body").get_attribute(f"data-{name}-ms"))


# ---------------------------------------------------------------------- the pages on the demo store


def test_overview_shows_the_stores_customers_per_stage_and_tier(tab, demo):
    started = time.perf_counter()
    frame = tab.open("overview", token_for(demo["owner"]))
    wait_loaded(frame, "overview loaded")
    print(f"\n[timing] overview interactive after the handshake: {timing(frame, 'overview')} ms "
          f"(page load to interactive: {(time.perf_counter() - started) * 1000:.0f} ms)")
    rows = frame.locator("#stages table tbody tr")
    shown = {rows.nth(i).locator("th").inner_text(): rows.nth(i).locator("td").inner_text()
             for i in range(rows.count())}
    counts = dict(tab.sql("SELECT stage, count(*) FROM lifecycle_plugin_customerprofile GROUP BY stage"))
    assert shown == {stage_label(stage.value): str(counts.get(stage.value, 0)) for stage in Stage}
    tiers = dict(tab.sql("SELECT coalesce(tier, ''), count(*) FROM lifecycle_plugin_customerprofile GROUP BY 1"))
    tier_rows = frame.locator("#tiers .chart table tbody tr")
    tier_shown = {tier_rows.nth(i).locator("th").inner_text(): int(tier_rows.nth(i).locator("td").inner_text().replace(",", ""))
                  for i in range(tier_rows.count())}
    assert sum(tier_shown.values()) == sum(tiers.values())
    assert tier_shown["No tier"] == tiers.get("", 0)
    # Every chart is a table; the toggle drops the chart's styling and keeps the same rows.
    toggle = frame.locator("#stages button")
    toggle.click()
    assert frame.locator("#stages table").get_attribute("class") == "data"
    assert toggle.get_attribute("aria-pressed") == "true"
    toggle.click()
    # The KPI table and the retention heatmap fill in (test_overview_kpis_... checks their figures).
    frame.locator("#kpis table").first.wait_for()
    frame.locator("#cohorts table, #cohorts p").first.wait_for()
    # What each action earned: one row per action with messages sent in the last 90 days,
    # its sent count as plain SQL over the demo's ledger finds it.
    expect(frame.locator("#action-results table").first).to_be_visible()
    result_rows = frame.locator("#action-results table").first.locator("tbody tr")
    sent_shown = {result_rows.nth(i).locator("th").inner_text(): result_rows.nth(i).locator("td").first.inner_text()
                  for i in range(result_rows.count())}
    sent = dict(tab.sql("""SELECT action, count(*) FILTER (WHERE status = 'done' AND (result ? 'sent_at'
                                                                           OR result ? 'delivered_by'))
                           FROM lifecycle_plugin_actionledgerentry
                           WHERE COALESCE(completed_at, created_at) >= now() - interval '90 days'
                             AND NOT starts_with(action, 'event:') AND NOT (payload ? 'for_action')
                           GROUP BY action"""))
    assert sent and sent_shown == {action: f"{n:,}" for action, n in sent.items()}
    # ... and per ISO week: (action, week) → sent, as plain SQL finds it (weeks with entries only)
    week_rows = frame.locator("#action-results table").nth(1).locator("tbody tr")
    weekly_shown = {(week_rows.nth(i).locator("th").inner_text(), week_rows.nth(i).locator("td").nth(0).inner_text()):
                    week_rows.nth(i).locator("td").nth(1).inner_text() for i in range(week_rows.count())}
    weekly = tab.sql("""SELECT action, to_char(COALESCE(completed_at, created_at) AT TIME ZONE 'UTC', 'IYYY-"W"IW'),
                               count(*) FILTER (WHERE status = 'done' AND (result ? 'sent_at' OR result ? 'delivered_by'))
                        FROM lifecycle_plugin_actionledgerentry
                        WHERE COALESCE(completed_at, created_at) >= now() - interval '90 days'
                          AND NOT starts_with(action, 'event:') AND NOT (payload ? 'for_action')
                        GROUP BY 1, 2""")
    assert {(action, week): f"{n:,}" for action, week, n in weekly if n} == {
        key: n for key, n in weekly_shown.items() if n != "0"}
    # Stage flow: a point a week over the 90 days (13 weeks from since, then until).
    frame.locator("#conversions").wait_for()
    assert frame.locator("#flow .chart tbody tr").count() == 14
    # Every section loaded on its own; their times are printed, not asserted.
    parts = frame.locator(".part")
    expect(frame.locator(".part[data-state='loaded']")).to_have_count(parts.count())
    print("[timing] overview sections: " + ", ".join(
        f"{parts.nth(i).get_attribute('id')[:-5]} {parts.nth(i).get_attribute('data-ms')} ms" for i in range(parts.count())))
    tab.screenshot("overview")
    tab.page.evaluate("window.dashboard.theme('dark')")
    expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
    tab.screenshot("overview-dark")


def test_the_counts_do_not_wait_for_the_metrics_and_a_failed_section_retries_alone(tab, demo):
    held, failing = [], {"on": True}

    def answer(route):
        body = route.request.post_data or ""
        if "lifecycleKpis" in body and not held.count(None):
            held.append(route)  # answered later: the KPIs are as slow as they like
        elif "lifecycleStageFlow" in body and failing["on"]:
            route.fulfill(status=502, content_type="application/json", body='{"errors": [{"message": "Bad gateway"}]}')
        else:
            route.continue_()

    tab.context.route("**/app/graphql/", answer)
    frame = tab.open("overview", token_for(demo["owner"]))
    wait_loaded(frame, "overview loaded")
    counts = dict(tab.sql("SELECT stage, count(*) FROM lifecycle_plugin_customerprofile GROUP BY stage"))
    rows = frame.locator("#stages table tbody tr")
    assert {rows.nth(i).locator("th").inner_text(): rows.nth(i).locator("td").inner_text() for i in range(rows.count())} \
        == {stage_label(stage.value): str(counts.get(stage.value, 0)) for stage in Stage}
    # The KPIs are still loading, the flow failed with its own error and Retry; the rest loaded.
    expect(frame.locator("#kpis-body")).to_have_attribute("data-state", "loading")
    expect(frame.locator("#kpis-body")).to_contain_text("Loading")
    expect(frame.locator("#flow-body")).to_have_attribute("data-state", "error")
    assert "Bad gateway" in frame.locator("#flow-body .error").inner_text()
    for part in ("predictions", "cohorts", "action-results"):
        expect(frame.locator(f"#{part}-body")).to_have_attribute("data-state", "loaded")
    assert "error" not in (frame.locator("#status").get_attribute("class") or "")
    failing["on"] = False
    retry = frame.locator("#flow-body button.retry")
    retry.focus()
    retry.press("Enter")  # keyboard only; only this section asks again
    expect(frame.locator("#flow-body")).to_have_attribute("data-state", "loaded")
    frame.locator("#conversions").wait_for()
    assert frame.locator("#kpis-body").get_attribute("data-state") == "loading"
    held.append(None)
    held[0].continue_()
    expect(frame.locator("#kpis-body")).to_have_attribute("data-state", "loaded")
    frame.locator("#kpis table").first.wait_for()
    tab.errors[:] = [e for e in tab.errors if "502" not in e]  # the browser logs the failed request itself


def figure(text: str) -> float | None:
    """A shown number or amount ("$1,234.50", "12.5 %", "3") as a float; None for "—"."""
    if text.strip() == "—":
        return None
    return float(re.sub(r"[^0-9.\-]", "", text.split("(")[0].replace(",", "")))


def shown_period(frame, section: str) -> tuple[datetime, datetime]:
    node = frame.locator(f"#{section}")
    return (datetime.fromisoformat(node.get_attribute("data-since").replace("Z", "+00:00")),
            datetime.fromisoformat(node.get_attribute("data-until").replace("Z", "+00:00")))


def test_overview_kpis_per_stage_and_a_retention_cell_match_plain_sql(tab, demo):
    from tests.sandbox import test_kpis as plain

    frame = tab.open("overview", token_for(demo["owner"]))
    wait_loaded(frame, "overview loaded")
    frame.locator("#kpis table").first.wait_for()
    since, until = shown_period(frame, "kpis")
    assert (until - since).days == 90
    with tab.blocker.unblock():
        want = plain.expected_kpis("stage", since, until)
    days = (until - since).total_seconds() / 86400
    total = want.pop("<total>")
    labels = {stage_label(stage.value): stage.value for stage in Stage}
    labels["All stages"] = "<total>"
    want["<total>"] = total
    tables = frame.locator("#kpis table")
    currencies = [tables.nth(i).get_attribute("data-currency") for i in range(tables.count())]
    # One table per currency the store sells in: amounts are never summed across currencies.
    assert currencies == sorted(total["money"]) and len(currencies) >= 1
    checked = 0
    empty = {"customers": 0, "buyers": 0, "orders": 0, "repeat": 0, "with_orders": 0, "lifespan": None,
             "active": 0, "churned": 0, "money": {}}
    for index, currency in enumerate(currencies):
        rows = tables.nth(index).locator("tbody tr")
        assert rows.count() == len(Stage) + 1
        for i in range(rows.count()):
            row = rows.nth(i)
            key = labels[row.locator("th").inner_text()]
            w = want.get(key, empty)
            cells = [row.locator("td").nth(j).inner_text() for j in range(10)]
            money = w["money"].get(currency, {"orders": 0, "revenue": Decimal(0), "spend": Decimal(0), "spenders": 0})
            assert figure(cells[0]) == w["customers"], (key, cells)
            assert figure(cells[1]) == w["buyers"], (key, cells)
            assert figure(cells[2]) == money["orders"], (key, cells)
            assert figure(cells[3]) == pytest.approx(float(money["revenue"]), abs=0.005), (key, cells)
            aov = money["revenue"] / money["orders"] if money["orders"] else None
            assert figure(cells[4]) == (None if aov is None else pytest.approx(float(aov), abs=0.005)), (key, cells)
            frequency = w["orders"] / w["buyers"] if w["buyers"] else None
            assert figure(cells[5]) == (None if frequency is None else pytest.approx(frequency, abs=0.005)), (key, cells)
            historic = money["spend"] / money["spenders"] if money["spenders"] else None
            assert figure(cells[6]) == (None if historic is None else pytest.approx(float(historic), abs=0.005)), (key, cells)
            years = None if w["lifespan"] is None else w["lifespan"] / 365.25
            simple = None if None in (frequency, aov, years) else frequency * 365.25 / days * float(aov) * years
            assert figure(cells[7]) == (None if simple is None else pytest.approx(simple, abs=0.005)), (key, cells)
            repeat = w["repeat"] / w["buyers"] if w["buyers"] else None
            assert figure(cells[8]) == (None if repeat is None else pytest.approx(repeat * 100, abs=0.05)), (key, cells)
            churn = w["churned"] / w["active"] if w["active"] else None
            assert figure(cells[9]) == (None if churn is None else pytest.approx(churn * 100, abs=0.05)), (key, cells)
            if w["active"]:
                assert f"({w['churned']:,} of {w['active']:,})" in cells[9]
            checked += w["buyers"]
    assert checked > 0  # the demo store sold something in the period: the figures are not all zeros
    # The retention heatmap: the cohorts of the period, and its busiest cell after the first month.
    since, until = shown_period(frame, "cohorts")
    months = -(-90 // 30)
    with tab.blocker.unblock():
        sizes, cells, _ = plain.expected_retention(since, until, months)
    rows = frame.locator("#retention tbody tr")
    assert [rows.nth(i).get_attribute("data-cohort") for i in range(rows.count())] == sorted(sizes)
    later = [(len(who), key) for key, who in cells.items() if key[1] >= 1] or [(len(who), key) for key, who in cells.items()]
    count, (cohort, month) = max(later)
    cell = frame.locator(f"#retention tr[data-cohort='{cohort}'] td[data-month='{month}']")
    assert f"{count:,} of {sizes[cohort]:,} customers" in cell.get_attribute("title")
    assert figure(cell.inner_text()) == pytest.approx(count / sizes[cohort] * 100, abs=0.05)
    assert cell.evaluate("node => getComputedStyle(node).getPropertyValue('--share')").strip() != ""
    frame.locator("#kpis").evaluate("node => node.scrollIntoView({ block: 'start' })")
    tab.screenshot("overview-kpis")
    frame.locator("#cohorts").evaluate("node => node.scrollIntoView({ block: 'start' })")
    tab.screenshot("overview-retention")


def test_overview_stage_flow_matches_plain_sql_over_the_history(tab, demo):
    from tests.sandbox import test_stage_flow as plain

    frame = tab.open("overview", token_for(demo["owner"]))
    wait_loaded(frame, "overview loaded")
    frame.locator("#conversions").wait_for()
    since, until = shown_period(frame, "flow")
    # The last column of the chart is the period's end: the stage each customer held then.
    last = frame.locator("#flow .chart tbody tr").last
    headers = frame.locator("#flow .chart thead th")
    series = [headers.nth(i).inner_text() for i in range(1, headers.count())]
    # (Each segment's title holds its figure; an empty segment shows no number.)
    shown = {label: figure(last.locator("td").nth(i).get_attribute("title").split(": ")[-1])
             for i, label in enumerate(series)}
    with tab.blocker.unblock():
        held = plain.stage_counts_at(until, None)
        rows = plain.history_rows()
    assert shown == {stage_label(stage.value): held.get(stage.value, 0) for stage in Stage}
    assert sum(held.values()) > 0
    # The conversions: entered and converted as a Python reading of the history rows finds them.
    names = {"lead_to_new": "Lead → first order", "new_to_repeat": "New → repeat",
             "repeat_to_loyal": "Repeat → loyal", "win_back": "At risk or lapsed → back (win-back)"}
    table = frame.locator("#conversions tbody tr")
    cells = {table.nth(i).locator("th").inner_text(): [table.nth(i).locator("td").nth(j).inner_text() for j in range(4)]
             for i in range(table.count())}
    for name, (from_stages, to_stages) in plain.PATHS.items():
        entered, converted, median = plain.expected_conversion(rows, from_stages, to_stages, None, since, until)
        assert (figure(cells[names[name]][0]), figure(cells[names[name]][1])) == (entered, converted), name
        assert figure(cells[names[name]][3]) == (None if median is None else pytest.approx(median, abs=0.05)), name
    frame.locator("#flow").evaluate("node => node.scrollIntoView({ block: 'start' })")
    tab.screenshot("overview-flow")


def test_customer_card_shows_stage_history_and_actions_and_recomputes(tab, demo):
    email, stage, moves = tab.sql("""
        SELECT p.email, p.stage, count(DISTINCT t.id) FROM lifecycle_plugin_customerprofile p
        JOIN lifecycle_plugin_stagetransition t ON t.profile_id = p.id
        JOIN lifecycle_plugin_actionledgerentry l ON l.profile_id = p.id
        GROUP BY p.id ORDER BY count(DISTINCT t.id) DESC, p.id LIMIT 1""")[0]
    actions = tab.sql("""SELECT (SELECT count(*) FROM lifecycle_plugin_actionledgerentry l WHERE l.profile_id = p.id)
                              + (SELECT count(*) FROM lifecycle_plugin_scheduledaction s WHERE s.profile_id = p.id)
                         FROM lifecycle_plugin_customerprofile p WHERE p.email = %s""", [email])[0][0]
    frame = tab.open("customer", token_for(demo["owner"]), query=f"email={quote(email)}")
    wait_loaded(frame)
    print(f"\n[timing] customer card: {timing(frame, 'customer')} ms")
    assert frame.locator("#card-stage").inner_text() == stage_label(stage)
    assert frame.locator("#history tbody tr").count() == moves
    assert frame.locator("#actions tbody tr").count() == min(actions, 50)
    tab.screenshot("customer-card")
    frame.locator("#recompute").click()
    wait_loaded(frame, "recomputed")


def test_settings_preview_and_a_bad_value_saves_nothing(tab, demo):
    from lifecycle_plugin import conf

    frame = tab.open("settings", token_for(demo["owner"]))
    frame.wait_for_selector("#what-if-summary")
    print(f"\n[timing] what-if preview: {timing(frame, 'whatif')} ms")
    assert frame.locator("#settings-form .field").count() == len(conf.all_settings())
    customers = tab.sql("SELECT count(*) FROM lifecycle_plugin_customerprofile")[0][0]
    assert frame.locator("#what-if-summary").inner_text().startswith(f"{customers:,} customers evaluated")
    # A shorter at-risk threshold: the preview shows who would move.
    frame.locator("#setting-at_risk_days").fill("45")
    expect(frame.locator("#what-if-summary")).not_to_contain_text("; 0 would move", timeout=20000)
    rows = frame.locator("#what-if table").first.locator("tbody tr")
    now_col = {rows.nth(i).locator("th").inner_text(): int(rows.nth(i).locator("td").nth(0).inner_text().replace(",", ""))
               for i in range(rows.count())}
    after = sum(int(rows.nth(i).locator("td").nth(1).inner_text().replace(",", "")) for i in range(rows.count()))
    counts = dict(tab.sql("SELECT stage, count(*) FROM lifecycle_plugin_customerprofile GROUP BY stage"))
    assert now_col == {stage_label(stage.value): counts.get(stage.value, 0) for stage in Stage}
    assert after == customers
    tab.screenshot("settings")
    # The tiers per tier now (the stored profiles, decided with the same settings) and a tier
    # change: gold out of reach moves every gold customer to silver, and nobody else.
    assert frame.locator("#what-if-evaluator").get_attribute("data-evaluator") == "sql"
    tier_rows = frame.locator("#what-if table").nth(2).locator("tbody tr")
    tiers_now = {tier_rows.nth(i).locator("th").inner_text(): int(tier_rows.nth(i).locator("td").nth(0).inner_text()
                                                                  .replace(",", "")) for i in range(tier_rows.count())}
    stored = dict(tab.sql("SELECT COALESCE(tier, ''), count(*) FROM lifecycle_plugin_customerprofile GROUP BY 1"))
    assert tiers_now == {"Bronze": stored.get("bronze", 0), "Silver": stored.get("silver", 0),
                         "Gold": stored.get("gold", 0), "No tier": stored.get("", 0)}
    tiers_box = frame.locator("#setting-tiers")
    tiers_text = tiers_box.input_value()
    tiers_box.fill("\n".join(line if not line.startswith("gold:") else "gold: USD 1000000000"
                             for line in tiers_text.splitlines()))
    moves = frame.locator("#what-if-tier-moves tbody tr")
    moves.first.wait_for(timeout=20000)
    assert [[cell.inner_text() for cell in moves.nth(i).locator("th, td").all()] for i in range(moves.count())] == [
        ["Gold", "Silver", f"{stored['gold']:,}"]]
    assert f"; {stored['gold']:,} would change tier;" in frame.locator("#what-if-summary").inner_text()
    tab.screenshot("settings-tiers")
    tiers_box.fill(tiers_text)
    frame.locator("#what-if-no-tier-moves").wait_for(timeout=20000)
    # A bad value: the field's message, focus on it, nothing saved.
    field = frame.locator("#setting-at_risk_days")
    field.fill("0")
    frame.locator("#apply").click()
    message = frame.locator("#setting-at_risk_days-message")
    message.wait_for(state="visible")
    assert "at risk" in message.inner_text().lower()
    assert field.get_attribute("aria-invalid") == "true"
    assert "Nothing was saved" in status(frame)
    assert tab.sql("SELECT count(*) FROM lifecycle_sandbox_storedsetting")[0][0] == 0
    # A good one is saved, through the keyboard, and the recompute it opened is shown until done.
    field.fill("45")
    # The preview of 45 against the settings in force (90) first, once the form's 600 ms pause
    # for typing has passed: customers would move.
    frame.wait_for_timeout(800)
    expect(frame.locator("#what-if-summary")).to_contain_text(re.compile(r"; [1-9][\d,]* would move;"), timeout=20000)
    field.press("Enter")
    wait_loaded(frame, "saved.")
    expect(frame.locator("#recompute-state")).to_have_attribute("data-state", "done", timeout=30000)
    assert tab.sql("SELECT name, value FROM lifecycle_sandbox_storedsetting") == [("at_risk_days", "45")]
    done, total, moved = tab.sql("SELECT done, total, moved FROM lifecycle_plugin_recomputerun "
                                 "ORDER BY requested_at DESC LIMIT 1")[0]
    assert done == total > 0
    assert frame.locator("#recompute-state").inner_text() == (
        f"Done: {done:,} of {total:,} customers recomputed, {moved:,} moved.")
    assert frame.locator("#recompute-progress progress").get_attribute("value") == str(total)
    wait_loaded(frame, "recompute done")
    # The preview now compares the form with the saved settings: nobody would move.
    expect(frame.locator("#what-if-summary")).to_contain_text("; 0 would move; 0 would change tier;", timeout=20000)
    frame.locator("#what-if-nobody").wait_for()
    tab.screenshot("settings-recompute")
    tab.sql("DELETE FROM lifecycle_sandbox_storedsetting RETURNING name")


def test_messages_lists_the_ledger_filters_it_and_previews_a_template(tab, demo):
    total = tab.sql("SELECT (SELECT count(*) FROM lifecycle_plugin_actionledgerentry) "
                    "+ (SELECT count(*) FROM lifecycle_plugin_scheduledaction)")[0][0]
    frame = tab.open("messages", token_for(demo["owner"]))
    wait_loaded(frame)
    assert status(frame) == f"Loaded {total:,} entries."
    frame.locator("#preview-form button[type=submit]").click()
    frame.wait_for_selector("#preview-result pre")
    assert "Subject:" in frame.locator("#preview-result").inner_text()
    action, count = tab.sql("SELECT action, count(*) FROM lifecycle_plugin_actionledgerentry "
                            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1")[0]
    scheduled = tab.sql("SELECT count(*) FROM lifecycle_plugin_scheduledaction WHERE action = %s", [action])[0][0]
    frame.select_option("#filter-action", action)
    frame.locator("#ledger-filters button[type=submit]").click()
    expect(frame.locator("#status")).to_have_text(f"Loaded {count + scheduled:,} entries.")
    assert frame.locator("#ledger tbody tr").count() == min(count + scheduled, 25)


# What waits to go out, by plain SQL: ledger entries pending (held or not) or failed with tries
# left, and pending scheduled actions.
OUTBOX_SQL = """
    SELECT count(*) FROM (
        SELECT l.action, p.email FROM lifecycle_plugin_actionledgerentry l
          JOIN lifecycle_plugin_customerprofile p ON p.id = l.profile_id
         WHERE (l.status = 'pending' OR (l.status = 'failed' AND l.attempts < 5)) {where}
        UNION ALL
        SELECT s.action, p.email FROM lifecycle_plugin_scheduledaction s
          JOIN lifecycle_plugin_customerprofile p ON p.id = s.profile_id
         WHERE s.status = 'pending' {where_scheduled}) o"""


def test_messages_outbox_lists_what_waits_and_filters_it(tab, demo):
    frame = tab.open("messages", token_for(demo["owner"]))
    wait_loaded(frame)
    expect(frame.locator("#outbox-body")).to_have_attribute("data-state", "loaded")
    waiting = tab.sql(OUTBOX_SQL.format(where="", where_scheduled=""))[0][0]
    assert waiting > 0  # the demo store has reminders and review requests due later
    assert frame.locator("#outbox-body .toolbar span.muted").inner_text().endswith(f"of {waiting:,}")
    assert frame.locator("#outbox tbody tr").count() == min(waiting, 25)
    # Soonest first: the "Goes out" column never goes back in time.
    action, email = tab.sql("""SELECT s.action, p.email FROM lifecycle_plugin_scheduledaction s
                               JOIN lifecycle_plugin_customerprofile p ON p.id = s.profile_id
                               WHERE s.status = 'pending' ORDER BY s.due_at LIMIT 1""")[0]
    frame.select_option("#outbox-action", action)
    frame.select_option("#outbox-state", "scheduled")
    frame.fill("#outbox-filters-email", email.upper())
    frame.locator("#outbox-filters button[type=submit]").click()
    expect(frame.locator("#outbox-body")).to_have_attribute("data-state", "loaded")
    want = tab.sql(OUTBOX_SQL.format(where="AND false", where_scheduled="AND s.action = %s AND p.email = %s"),
                   [action, email])[0][0]
    expect(frame.locator("#outbox tbody tr")).to_have_count(want)
    assert {frame.locator("#outbox tbody tr").nth(i).locator("th").inner_text() for i in range(want)} == {email}
    frame.locator("#outbox").evaluate("node => node.scrollIntoView({ block: 'start' })")
    tab.screenshot("messages")


def test_messages_test_send_goes_through_the_outbox_channel_marked_as_a_test(tab, demo):
    from django.core import mail

    last_outbox = tab.sql("SELECT coalesce(max(id), 0) FROM lifecycle_sandbox_outboxmessage")[0][0]
    ledger = tab.sql("SELECT count(*) FROM lifecycle_plugin_actionledgerentry")[0][0]
    frame = tab.open("messages", token_for(demo["owner"]))
    wait_loaded(frame)
    frame.select_option("#preview-action", "repeat_purchase")
    frame.locator("#preview-form button[type=submit]").click()
    frame.wait_for_selector("#preview-result pre")
    to = frame.locator("#test-to")
    assert to.input_value() == "owner@sandbox.example"  # the staff member's own address by default
    # A bad address: the field's message, focus on it, nothing sent.
    to.fill("not an address")
    frame.locator("#test-send").click()
    expect(frame.locator("#test-to-message")).to_be_visible()
    assert "sendTo" in frame.locator("#test-to-message").inner_text() and to.get_attribute("aria-invalid") == "true"
    assert tab.sql("SELECT count(*) FROM lifecycle_sandbox_outboxmessage WHERE id > %s", [last_outbox])[0][0] == 0
    assert mail.outbox == []
    # The sandbox's own settings send e-mail (Django's mail, captured in memory under the tests).
    to.fill("qa@agency.example")
    to.press("Enter")
    expect(frame.locator("#test-result")).to_have_text("Test sent to qa@agency.example (email).")
    [email] = mail.outbox
    assert email.to == ["qa@agency.example"] and email.subject.startswith("[Test] ")
    assert email.extra_headers["X-Lifecycle-Test"] == "true" and "LC-PREVIEW00000" in email.body  # no voucher issued
    # With the demo's channel (notify: the sandbox's outbox table), the same button writes there.
    tab.sql("INSERT INTO lifecycle_sandbox_storedsetting (name, value) VALUES ('delivery_channel', 'notify') RETURNING name")
    try:
        frame.locator("#test-send").click()
        expect(frame.locator("#test-result")).to_have_text("Test sent to qa@agency.example (outbox).")
    finally:
        tab.sql("DELETE FROM lifecycle_sandbox_storedsetting RETURNING name")
    [(address, subject, text, payload)] = tab.sql(
        "SELECT email, subject, text, payload->>'test' FROM lifecycle_sandbox_outboxmessage WHERE id > %s", [last_outbox])
    assert address == "qa@agency.example" and subject.startswith("[Test] ") and payload == "true"
    assert "LC-PREVIEW00000" in text
    # Neither is a customer's message: no ledger entry (no action result, no frequency cap).
    assert tab.sql("SELECT count(*) FROM lifecycle_plugin_actionledgerentry")[0][0] == ledger
    kept = tab.sql("SELECT sent_by, recipient, action, status, channel FROM lifecycle_plugin_messagetestsend ORDER BY id")
    assert kept == [("owner@sandbox.example", "qa@agency.example", "repeat_purchase", "sent", "email"),
                    ("owner@sandbox.example", "qa@agency.example", "repeat_purchase", "sent", "outbox")]
    expect(frame.locator("#test-sends tbody tr")).to_have_count(2)
    assert "qa@agency.example" in frame.locator("#test-sends tbody tr").first.inner_text()
    frame.locator("#template-preview").evaluate("node => node.scrollIntoView({ block: 'start' })")
    tab.screenshot("messages-test-send")
    tab.sql("DELETE FROM lifecycle_plugin_messagetestsend RETURNING id")


def test_messages_test_send_needs_manage_plugins(tab, demo):
    frame = tab.open("messages", token_for(demo["reader"]))
    wait_loaded(frame)
    frame.locator("#preview-form button[type=submit]").click()
    frame.wait_for_selector("#preview-result pre")
    assert frame.locator("#test-send").is_disabled()
    assert "MANAGE_PLUGINS" in frame.locator("#test-form").inner_text()


# ---------------------------------------------------------------------- sign-in and faults


@pytest.mark.parametrize("kind", ["garbage", "expired", "customer"])
def test_a_bad_token_loads_nothing_and_says_why(tab, demo, kind):
    from django.contrib.auth.models import User

    if kind == "garbage":
        token = "not-a-token"
    elif kind == "expired":
        token = token_for(demo["owner"], at=time.time() - 3600)
    else:
        with tab.blocker.unblock():
            shopper = User.objects.filter(is_staff=False).order_by("id").first()
        token = token_for(shopper)
    requests = []
    tab.page.on("request", lambda request: "/graphql/" in request.url and requests.append(request.post_data))
    frame = tab.open("overview", token)
    wait_error(frame)
    assert "refused" in status(frame)
    assert frame.locator("#content").is_hidden() and frame.locator("#viewer").is_hidden()
    assert frame.locator("#retry-box").is_visible()
    # The sign-in check only (once: the handshake after notifyReady repeats the same token); nothing else.
    assert len(requests) == 1 and "lifecycleViewer" in requests[0]


def test_without_the_dashboard_the_page_says_why_and_sends_nothing(tab, demo):
    requests = []
    tab.page.on("request", lambda request: "/graphql/" in request.url and requests.append(request.url))
    tab.page.goto(tab.pages_url + "overview/")
    wait_error(tab.page)
    assert "Saleor Dashboard" in tab.page.locator("#status").inner_text()
    assert requests == []


def test_a_handshake_from_another_window_and_origin_is_ignored(tab, demo):
    requests = []
    tab.page.on("request", lambda request: "/graphql/" in request.url and requests.append(request.url))
    frame = tab.open("overview", None, intruder_token=token_for(demo["owner"]))
    tab.page.wait_for_timeout(600)
    assert requests == [] and "Waiting" in status(frame)
    assert tab.page.evaluate("window.received.map(function (a) { return a.type; })") == ["notifyReady"]


def test_the_refreshed_token_replaces_the_first(tab, demo):
    first, fresh = token_for(demo["owner"]), token_for(demo["reader"])
    frame = tab.open("messages", first)
    wait_loaded(frame)
    seen = []
    tab.page.on("request", lambda request: "/graphql/" in request.url and seen.append(request.headers["authorization"]))
    tab.page.evaluate(f"window.dashboard.refresh({fresh!r})")
    frame.wait_for_timeout(200)
    frame.locator("#ledger-filters button[type=submit]").click()
    wait_loaded(frame)
    assert seen == [f"Bearer {fresh}"]


def test_an_api_failure_shows_the_error_and_retry_recovers(tab, demo):
    failing = {"on": True}

    def answer(route):
        if failing["on"] and "lifecycleStageCounts" in (route.request.post_data or ""):
            route.fulfill(status=502, content_type="application/json", body='{"errors": [{"message": "Bad gateway"}]}')
        else:
            route.continue_()

    tab.context.route("**/app/graphql/", answer)
    frame = tab.open("overview", token_for(demo["owner"]))
    wait_error(frame)
    assert "Bad gateway" in status(frame)
    retry = frame.locator("#retry")
    assert retry.is_visible()
    failing["on"] = False
    retry.focus()
    retry.press("Enter")  # keyboard only
    wait_loaded(frame, "overview loaded")
    assert frame.locator("#stages table").count() == 1
    tab.errors[:] = [e for e in tab.errors if "502" not in e]  # the browser logs the failed request itself


def test_settings_without_manage_plugins_hide_apply(tab, demo):
    frame = tab.open("settings", token_for(demo["reader"]))
    frame.wait_for_selector("#what-if-summary")
    assert frame.locator("#apply").is_hidden()
    assert "MANAGE_PLUGINS" in status(frame)


def test_the_sandbox_dashboard_signs_in_locally_and_frames_the_pages(tab, demo, pages_server):
    page = tab.page
    page.goto(f"{pages_server.url}/dashboard/")
    page.fill("#username", "owner")
    page.fill("#password", "wrong")
    page.click("#login button[type=submit]")
    page.wait_for_selector("#login-error", state="visible")
    # The refused sign-in's 401 is logged by the browser itself; nothing else may be.
    tab.errors[:] = [e for e in tab.errors if "401" not in e]
    page.fill("#password", "owner-password")
    page.click("#login button[type=submit]")
    frame = page.wait_for_selector("iframe#frame").content_frame()
    expect(frame.locator("#status")).to_have_text("Overview loaded.", timeout=20000)
    assert frame.locator("#viewer-email").inner_text() == "owner@sandbox.example"


def test_graphiql_loads_offline_from_the_packages_copies(tab, demo, pages_server):
    outside = []
    tab.context.route("**/*", lambda route: (outside.append(route.request.url), route.abort())
                      if not route.request.url.startswith(pages_server.url) else route.continue_())
    tab.page.goto(f"{pages_server.url}/graphql/")
    tab.page.wait_for_selector(".graphiql-container")
    assert outside == []
