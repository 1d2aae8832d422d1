"""The engine's steps as the commands run them: each timed, with a progress bar and a one-line result."""

from __future__ import annotations

from datetime import datetime

from .common import Out, emptying_the_store, migrate


def do_generate(out: Out, customers: int, years: float, seed: int, now: datetime):
    from ..generator import generate_store

    with out.step(f"generating {customers:,} customers over {years:g} years up to {now:%Y-%m-%d %H:%M} UTC (seed {seed})"):
        bar = out.bar(customers, "generate")
        summary = generate_store(customers=customers, years=years, seed=seed, now=now, progress=bar.update)
        bar.close()
    out(f"  {summary.accounts:,} accounts, {summary.guests:,} guests "
        f"({summary.guests_registered_later:,} guests registered later), {summary.orders:,} orders, "
        f"{summary.order_lines:,} order lines, {summary.checkouts:,} checkouts: "
        f"{summary.rows / max(summary.seconds, 1e-9):,.0f} rows/s")
    return summary


def do_fresh_store(out: Out, args, now: datetime):
    """Migrate, empty the store and generate one as `args` (customers, years, seed) say: the demo's and replay's start."""
    with out.step("migrating"):
        migrate()
    emptying_the_store(out)
    return do_generate(out, args.customers, args.years, args.seed, now)


def do_backfill(out: Out, engine, chunk_size: int, *, start_after: str | None = None):
    from ...engine.backfill import backfill

    with out.step(f"backfilling every customer as of {engine.clock():%Y-%m-%d %H:%M} UTC (chunks of {chunk_size:,})"):
        counter = getattr(engine.host, "count_customers", None)
        bar = out.bar(counter() if counter else None, "backfill")
        report = backfill(engine, chunk_size=chunk_size, start_after=start_after,
                          progress=lambda done, last_email: bar.update(done))
        bar.close()
    out(f"  {report.customers:,} customers: {report.created:,} profiles created, {report.updated:,} updated, "
        f"{report.stage_changes:,} stage and {report.tier_changes:,} tier changes, {report.conflicts} conflicts")
    if report.path == "sql":
        out("  decided in SQL: new profiles got their history dated from their orders")
    else:
        out(f"  decided in Python ({report.path_reason}): history dated at the backfill")
    return report


def do_replay(out: Out, engine, clock, until: datetime):
    from collections import Counter

    from ..referrals import make_referrals
    from ..replay import replay_days

    days = max((until - clock.now).days, 0)
    referrals: Counter = Counter()

    def shoppers(start, end):  # friends using the referral codes issued so far
        referrals.update(make_referrals(engine, clock, start, end))

    with out.step(f"replaying {days} days up to {until:%Y-%m-%d %H:%M} UTC (each day: its events, then the sweep)"):
        bar = out.bar(days, "replay", unit="day")
        reports = replay_days(engine, clock, until, on_day=lambda report: bar.update(1), during_day=shoppers)
        bar.close()
    events = sum(sum(r.events.values()) for r in reports)
    out(f"  {events:,} events processed at the moment they happened, "
        f"{sum(r.swept for r in reports):,} profiles swept at the ends of days")
    if referrals:
        out("  referral codes used live: " + ", ".join(f"{n:,} {case}" for case, n in sorted(referrals.items())))
    return reports


def do_sweep(out: Out, engine):
    with out.step(f"sweeping (time-based moves due by {engine.clock():%Y-%m-%d %H:%M} UTC)"):
        report = engine.sweep()
    out(f"  {report.profiles:,} profiles due: {report.stage_changes:,} stage and {report.tier_changes:,} tier changes")
    return report


def do_predict(out: Out, engine):
    """The daily prediction run, as the `predict` task runs it: the fitted models or why not."""
    from ...engine.predictions import describe_fit, run_predictions

    with out.step("predicting (BG/NBD purchases, Gamma-Gamma spend per currency)"):
        report = run_predictions(engine)
    out(f"  {report.customers:,} customers with counted orders, {report.repeat_buyers:,} repeat buyers; "
        f"{report.predicted:,} predicted" + (f" (none: {report.reason})" if report.reason else ""))
    for fit in report.fits:
        out(f"  {describe_fit(fit)}")
    return report
