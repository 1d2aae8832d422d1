"""The per-action results table (`engine.action_results`) as the demo prints it."""

from __future__ import annotations

from datetime import datetime

from .common import Out

#: The table's columns, in the words the legend prints.
LEGEND = (
    ("sent", "messages that went out (customers: how many people they reached)"),
    ("vouchers", "personal vouchers issued with them"),
    ("held back", "not sent: consent (no marketing consent), opt-out (unsubscribed), cap (the marketing "
                  "frequency cap), quiet (waiting for the quiet hours to end), other (nothing to offer, "
                  "a template or plugin problem)"),
    ("failed", "delivery failed, to be retried"),
    ("converted", "customers who placed a counted order after a message, up to the end of its window "
                  "(the voucher's validity, else {window} days); rate: converted per customer reached"),
    ("revenue", "those orders, net of refunds, per currency (currencies are never added together)"),
)


def money(revenue) -> str:
    return "; ".join(f"{currency} {amount:,.2f}" for currency, amount in revenue.items()) or "-"


def print_action_results(out: Out, engine, *, since: datetime | None = None, what: str = "") -> None:
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
    out(f"  {'action':<{width}} {'sent':>6} {'customers':>9} {'vouchers':>8}   {'consent':>7} {'opt-out':>7} "
        f"{'cap':>5} {'quiet':>5} {'other':>5}   {'failed':>6} {'converted':>9} {'rate':>6}  revenue")
    for r in results.actions:
        held = r.held_back
        rate = f"{100 * r.conversion_rate:.1f}%" if r.conversion_rate is not None else "-"
        converted = f"{r.converted:,}" if r.converted is not None else "-"
        out(f"  {r.action:<{width}} {r.sent:>6,} {r.customers:>9,} {r.vouchers_issued:>8,}   {held.consent:>7,} "
            f"{held.opted_out:>7,} {held.frequency_cap:>5,} {held.quiet_hours:>5,} {held.other:>5,}   "
            f"{r.failed:>6,} {converted:>9} {rate:>6}  {money(r.revenue or {})}")
        extra = [f"{n:,} {label}" for n, label in ((r.unsure, "may or may not have gone out"),
                                                     (r.pending, "waiting to run"),
                                                     (r.sent_after_quiet_hours, "sent after the quiet hours"),
                                                     (r.recorded, "recorded (no message)")) if n]
        if extra:
            out(f"  {'':<{width}} ({', '.join(extra)})")
