"""Small SQL pieces for the ladder compiler: literals, the tier CASE, and session-local
functions that reproduce exactly what Python computes for the facts."""

from __future__ import annotations

from collections.abc import Iterable

from ..rules.config import LifecycleConfig, Tier
from ..rules.ladder import LADDER, Ladder


def literal(text: str) -> str:
    """A SQL string literal (the values compiled in are validated codes, quoted anyway)."""
    return "'" + str(text).replace("'", "''") + "'"


def stage_array(stages: Iterable) -> str:
    return "ARRAY[" + ", ".join(literal(s.value) for s in sorted(stages, key=lambda s: s.value)) + "]::text[]"


def counted_any_payment_condition(ladder: Ladder = LADDER, alias: str = "o") -> str:
    """The orders that count whether or not they are paid (`rules.digest.counted_any_payment`):
    placed and not fully refunded, over the columns of the host's orders SELECT."""
    return (f"{alias}.state = {literal(ladder.counted.state.value)}"
            f" AND NOT ({alias}.total > 0 AND {alias}.refunded >= {alias}.total)")


def counted_condition(config: LifecycleConfig, ladder: Ladder = LADDER, alias: str = "o") -> str:
    """The statement's counted-order rule (`rules.ladder.counted`) over the columns of the
    host's orders SELECT (see `engine.sql_ladder`): the ladder and the prediction read
    the same orders through this one condition."""
    paid = f" AND {alias}.paid" if ladder.counted.paid_only.of(config) else ""
    return counted_any_payment_condition(ladder, alias) + paid


def tier_case(tiers: tuple[Tier, ...]) -> str:
    """The highest tier whose threshold the running spend `s_<CUR>` reaches in any one currency."""
    if not tiers:
        return "NULL::text"
    whens = []
    for tier in reversed(tiers):
        reached = " OR ".join(f"s_{currency} >= {literal(str(amount))}::numeric"
                              for currency, amount in sorted(tier.thresholds.items()))
        whens.append(f"WHEN {reached} THEN {literal(tier.code)}")
    return "CASE " + " ".join(whens) + " END"


_BITS = "('x' || encode(float8send(us::float8 / 86400000000::float8), 'hex'))::bit(64)::bigint"

#: Created in the session's own schema (pg_temp): nothing is left in the database. Each is
#: one expression, so PostgreSQL inlines it into the query instead of calling it per row.
FUNCTIONS = (
    # Python's round(us / 86_400_000_000, 4), which rounds the quotient's double. For gaps
    # under 285 years that double is off the exact quotient by less than the distance of
    # any non-tie to a tie of the 4th decimal, so only exact ties (us mod 8,640,000 =
    # 4,320,000) need the double: its bits give its exact value m * 2^(e-1075) to compare
    # with the tie (2q + 1) / 20000; equal rounds half to even.
    f"""CREATE OR REPLACE FUNCTION pg_temp.lc_ladder_days(us bigint) RETURNS numeric
       LANGUAGE sql IMMUTABLE AS $$
         SELECT (div(us, 8640000) + CASE
                   WHEN mod(us, 8640000) < 4320000 THEN 0
                   WHEN mod(us, 8640000) > 4320000 THEN 1
                   ELSE CASE sign(((({_BITS}) & 4503599627370495) + 4503599627370496)::numeric * 20000
                                  - (2 * div(us, 8640000) + 1)::numeric
                                    * power(2::numeric, 1075 - ((({_BITS}) >> 52) & 2047)))
                          WHEN 1 THEN 1 WHEN -1 THEN 0 ELSE mod(div(us, 8640000), 2) END
                 END)::numeric / 10000
       $$""",
    # timedelta / 2: to the nearest microsecond, half to even.
    """CREATE OR REPLACE FUNCTION pg_temp.lc_ladder_half(us bigint) RETURNS bigint
       LANGUAGE sql IMMUTABLE AS $$
         SELECT CASE WHEN mod(us, 2) = 0 OR mod(us / 2, 2) = 0 THEN us / 2 ELSE us / 2 + 1 END
       $$""",
    # Decimal.to_integral_value(): half to even (for the values here, never negative).
    """CREATE OR REPLACE FUNCTION pg_temp.lc_ladder_even(x numeric) RETURNS bigint
       LANGUAGE sql IMMUTABLE AS $$
         SELECT (CASE WHEN x - floor(x) = 0.5 THEN floor(x) + mod(floor(x), 2) ELSE round(x) END)::bigint
       $$""",
    # datetime.isoformat() of a UTC datetime (to_char is only STABLE: so is this, to be inlined).
    """CREATE OR REPLACE FUNCTION pg_temp.lc_ladder_iso(t timestamptz) RETURNS text
       LANGUAGE sql STABLE AS $$
         SELECT replace(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US+00:00'), '.000000+', '+')
       $$""",
)


#: The evaluator's outputs: its readers analyze them if they need to.
_OUTPUTS = ("decisions", "stage_moves", "tier_moves")


def with_statistics(statement: str) -> list[str]:
    """`statement`, then an ANALYZE of the temporary table it creates unless an output:
    temporary tables get no statistics unless asked, and the next statements are planned
    from them."""
    words = statement.split()
    if words[:3] == ["CREATE", "TEMP", "TABLE"] and words[3].removeprefix("lc_ladder_") not in _OUTPUTS:
        return [statement, f"ANALYZE {words[3]}"]
    return [statement]
