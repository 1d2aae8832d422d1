"""The Dashboard pages on a large sandbox store, in headless Chromium, as the browser tests drive them.

    .venv/bin/python bench/pages.py --sizes 100000

For each store size (generated from the seed and backfilled as of `--now` if it is not
already, each in a child of its own; neither is timed), a fresh child serves the sandbox's
pages on that database, frames them in the browser tests' harness (tests/dashboard: the
Dashboard's AppBridge side, tokens from the sandbox's local sign-in) and opens, `--repeat`
times each:

- the overview: interactive (the stage and tier counts drawn, the period selector live)
  after the handshake, and when each of its other sections finished loading;
- the customer card of the customer with the longest history;
- the settings page's what-if preview: the first one (the values in force), then with
  `at_risk_days` changed to 60 (the figure the target is about);
- the messages page (ledger, outbox, test sends).

Page weight: every response a page loaded (HTML, script, style, the API's answers),
compressed with gzip at level 6 as a web server in front of Saleor would send it.
Medians are printed, and each figure as one JSON line. `--now` defaults to today (UTC
midnight), so the pages' periods (the last 90 days up to the wall clock) cover the
store's latest orders.

Targets (issue #16, not asserted): overview interactive at most 1.5 s after the handshake,
customer card 500 ms, what-if preview 3 s, total page weight 600 KB compressed.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import sys
from datetime import datetime, timezone
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as common  # noqa: E402

SCRIPT = "pages.py"
OWNER = "bench-owner"


def child_backfill(now: str) -> None:
    common.answer(backfilled=common.ensure_backfilled(now))


def _owner():
    from django.contrib.auth.models import User

    owner = User.objects.filter(username=OWNER).first()
    return owner or User.objects.create_superuser(OWNER, "owner@bench.example", None)


def child_measure(repeat: str) -> None:
    from playwright.sync_api import expect

    from lifecycle_plugin.sandbox.dashboard import issue_pages_token
    from tests.dashboard.browser import DjangoServer, Tab, launch_chromium, static_server, wait_status

    owner = _owner()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""SELECT p.email FROM lifecycle_plugin_customerprofile p
                          JOIN lifecycle_plugin_stagetransition t ON t.profile_id = p.id
                          GROUP BY p.id ORDER BY count(*) DESC, p.id LIMIT 1""")
        card_email = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_customerprofile")
        customers = cursor.fetchone()[0]
    server = DjangoServer()
    dashboard, dashboard_url = static_server()
    figures: dict[str, list[float]] = {}

    def note(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)
        print(f"{name}: {value}", file=sys.stderr, flush=True)  # as it comes: a 1M run is long

    def weight(page_name: str, tab: Tab) -> None:
        sizes = [len(gzip.compress(body, 6)) for body in tab.bodies]
        note(f"{page_name}_weight_kb", sum(sizes) / 1024)

    with launch_chromium() as browser:
        for _ in range(int(repeat)):
            for page_name, query in (("overview", ""), ("customer", f"email={quote(card_email)}"),
                                     ("settings", ""), ("messages", "")):
                tab = Tab(browser, f"{server.url}/app/", dashboard_url)
                tab.bodies = []
                tab.page.on("response", lambda response, tab=tab: response.url.startswith(server.url)
                            and tab.bodies.append(response.body()))
                frame = tab.open(page_name, issue_pages_token(owner), query=query)
                body = frame.locator("body")
                if page_name == "overview":
                    wait_status(frame, "overview loaded", timeout=120000)
                    note("overview_interactive_ms", int(body.get_attribute("data-overview-after-handshake-ms")))
                    parts = frame.locator(".part")
                    expect(frame.locator(".part[data-state='loaded']")).to_have_count(parts.count(), timeout=600000)
                    for i in range(parts.count()):
                        note(f"overview_{parts.nth(i).get_attribute('id')[:-5]}_ms", int(parts.nth(i).get_attribute("data-ms")))
                elif page_name == "customer":
                    wait_status(frame, "loaded", timeout=120000)
                    note("customer_card_ms", int(body.get_attribute("data-customer-ms")))
                    note("customer_card_after_handshake_ms", int(body.get_attribute("data-customer-after-handshake-ms")))
                elif page_name == "settings":
                    frame.wait_for_selector("#what-if-summary", timeout=600000)
                    note("whatif_ms", int(body.get_attribute("data-whatif-ms")))
                    # The preview an owner waits for: one threshold changed (the first compares
                    # the settings in force with themselves, which shares every part).
                    frame.evaluate("document.body.removeAttribute('data-whatif-ms')")
                    frame.locator("#setting-at_risk_days").fill("60")
                    expect(body).to_have_attribute("data-whatif-ms", re.compile(r"^\d+$"), timeout=600000)
                    expect(frame.locator("#what-if-summary")).not_to_contain_text("; 0 would move")
                    note("whatif_at_risk_60_ms", int(body.get_attribute("data-whatif-ms")))
                else:
                    wait_status(frame, "loaded", timeout=120000)
                    for part in ("outbox", "test-sends"):
                        expect(frame.locator(f"#{part}-body")).to_have_attribute("data-state", "loaded", timeout=120000)
                tab.page.wait_for_load_state("networkidle")
                weight(page_name, tab)
                errors = tab.close()
                if errors:
                    raise SystemExit(f"console errors on {page_name}: {errors}")
    server.stop()
    dashboard.shutdown()
    common.answer(customers=customers, figures=figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser)
    parser.set_defaults(now=datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0).isoformat())
    parser.add_argument("--sizes", default="100000", help="Comma-separated store sizes (default 100000).")
    parser.add_argument("--repeat", type=int, default=3, help="Times each page is opened (default 3).")
    args = parser.parse_args()
    for customers in [int(size) for size in args.sizes.split(",")]:
        url = common.prepare_store(SCRIPT, args, customers)
        if common.run_child(SCRIPT, url, "backfill", args.now)["backfilled"]:
            common.log(f"backfilled {customers:,} customers as of {args.now}")
        answer = common.run_child(SCRIPT, url, "measure", str(args.repeat))
        for name, values in answer["figures"].items():
            common.emit(customers=customers, figure=name, median=common.median(values), runs=values)
            common.log(f"{customers:>9,} {name:<40} median {common.median(values):>9.1f}   runs {values}")


if __name__ == "__main__":
    if not common.child_main({"backfill": child_backfill, "measure": child_measure}):
        main()
