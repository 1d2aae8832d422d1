"""The per-action results table (`engine.action_results`) as the demo prints it."""

from __future__ import annotations

from datetime import datetime

from .common import Out

#: The table's columns, in the words the legend prints.
LEGEND = (
    ("sent", "messages that went out (customers: how many people they reached)"),
    ("vouchers", "personal vouchers issued with them; redeemed: those a counted order used"),
    ("held back", "not sent: consent (no marketing consent), opt-out (unsubscribed), cap (the marketing "
                  "frequency cap), quiet (waiting for the quiet hours to end), other (nothing to offer, "
                  "a template or plugin problem), held out (the holdout, holdout_percent: never sent)"),
    ("failed", "delivery failed, to be retried"),
    ("converted", "customers who placed a counted order after a message, up to the end of its window "
                  "(the voucher's validity, else {window} days); rate: converted per customer reached"),
    ("revenue", "those orders, net of refunds, per currency (currencies are never added together)"),
)


def money(revenue) -> str:
    return "; ".join(f"{currency} {amount:,.2f}" for currency, amount in revenue.items()) or "-"


def rate(value: float | None) -> str:
    return f"{100 * value:.1f}%" if value is not None else "-"


def count(value: int | None) -> str:
    return f"{value:,}" if value is not None else "-"


def lift_text(lift) -> str:
    """``+3.2 pts (x1.25)``: treated minus held-out conversion, and their ratio; ``-`` while a group is empty."""
    if lift is None or lift.difference is None:
        return "-"
    ratio = f" (x{lift.ratio:.2f})" if lift.ratio is not None else ""
    return f"{100 * lift.difference:+.1f} pts{ratio}"


def print_action_results(out: Out, engine, *, since: datetime | None = None, what: str = "") -> None:
    from ...actions.base import option_from
    from ...engine.action_results import action_results

    results = action_results(engine, since=since)
    out()
    out(f"Action results ({what or 'every ledger entry'}; see docs/actions.md, \"Action results\")")
    if not results.actions:
        out("  nothing yet: no action is switched on, or nobody qualified")
        return
    for index, (column, meaning) in enumerate(LEGEND):
        out(f"  {'columns' if index == 0 else '':<8} {column}: {meaning.format(window=results.window_days)}")
    if results.conversions_unavailable:
        out(f"  conversions not computed: {results.conversions_unavailable}")
    width = max(len(r.action) for r in results.actions)
    out(f"  {'action':<{width}} {'sent':>6} {'customers':>9} {'vouchers':>8} {'redeemed':>8}   {'consent':>7} "
        f"{'opt-out':>7} {'cap':>5} {'quiet':>5} {'other':>5} {'held out':>8}   {'failed':>6} {'converted':>9} "
        f"{'rate':>6}  revenue")
    for r in results.actions:
        held = r.held_back
        out(f"  {r.action:<{width}} {r.sent:>6,} {r.customers:>9,} {r.vouchers_issued:>8,} "
            f"{count(r.vouchers_redeemed):>8}   {held.consent:>7,} {held.opted_out:>7,} {held.frequency_cap:>5,} "
            f"{held.quiet_hours:>5,} {held.other:>5,} {held.held_out:>8,}   {r.failed:>6,} {count(r.converted):>9} "
            f"{rate(r.conversion_rate):>6}  {money(r.revenue or {})}")
        extra = [f"{n:,} {label}" for n, label in ((r.unsure, "may or may not have gone out"),
                                                     (r.pending, "waiting to run"),
                                                     (r.sent_after_quiet_hours, "sent after the quiet hours"),
                                                     (r.recorded, "recorded (no message)")) if n]
        if extra:
            out(f"  {'':<{width}} ({', '.join(extra)})")
    print_lift(out, results, width, option_from(engine.settings, "holdout_percent"))
    print_weeks(out, results, width)


def print_lift(out: Out, results, width: int, percent: int) -> None:
    out()
    out(f"  Lift against the holdout (holdout_percent = {percent}: that share of customers never gets a given "
        "marketing action; their conversion over the window the message would have had, from when it would "
        "have gone out, against the conversion of those sent it)")
    out(f"  {'action':<{width}} {'sent to':>8} {'converted':>9} {'rate':>6}   {'held out':>8} {'converted':>9} "
        f"{'rate':>6}   lift")
    for r in results.actions:
        lift = r.lift
        if lift is None or not (lift.treated_customers or lift.holdout_customers):
            continue
        out(f"  {r.action:<{width}} {lift.treated_customers:>8,} {lift.treated_converted:>9,} "
            f"{rate(lift.treated_rate):>6}   {lift.holdout_customers:>8,} {lift.holdout_converted:>9,} "
            f"{rate(lift.holdout_rate):>6}   {lift_text(lift)}")


def print_weeks(out: Out, results, width: int) -> None:
    out()
    out("  By ISO week (Monday to Sunday, UTC; an entry counts in the week it finished; weeks in which the "
        "action sent nothing and held nobody out are left out)")
    out(f"  {'action':<{width}} {'week':<8} {'sent':>6} {'customers':>9} {'redeemed':>8} {'held out':>8} "
        f"{'converted':>9} {'rate':>6}  lift")
    for r in results.actions:
        for w in (w for w in r.weeks if w.sent or w.held_out_customers):
            out(f"  {r.action:<{width}} {w.iso_week:<8} {w.sent:>6,} {w.customers:>9,} "
                f"{count(w.vouchers_redeemed):>8} {w.held_out_customers:>8,} {count(w.converted):>9} "
                f"{rate(w.conversion_rate):>6}  {lift_text(w.lift)}")
