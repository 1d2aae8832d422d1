"""Small SQL pieces for the ladder compiler: literals, the tier CASE, and session-local
functions that reproduce exactly what Python computes for the facts."""

from __future__ import annotations

from collections.abc import Iterable

from ..rules.config import Tier


def literal(text: str) -> str:
    """A SQL string literal (the values compiled in are validated codes, quoted anyway)."""
    return "'" + str(text).replace("'", "''") + "'"


def stage_array(stages: Iterable) -> str:
    return "ARRAY[" + ", ".join(literal(s.value) for s in sorted(stages, key=lambda s: s.value)) + "]::text[]"


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


#: Created in the session's own schema (pg_temp): nothing is left in the database.
FUNCTIONS = (
    # Python's round(us / 86_400_000_000, 4): the quotient is a double (both sides divide
    # the same exact integers, correctly rounded), and round() rounds that double's exact
    # binary value half-even. Its bits give the exact value m * 2^-k, compared in numeric.
    """CREATE OR REPLACE FUNCTION pg_temp.lc_ladder_days(us bigint) RETURNS numeric
       LANGUAGE sql IMMUTABLE AS $$
         SELECT round((q + CASE WHEN 2 * r > d OR (2 * r = d AND mod(q, 2) = 1) THEN 1 ELSE 0 END) / 10000.0, 4)
         FROM (SELECT div(m * 10000, d) AS q, mod(m * 10000, d) AS r, d
               FROM (SELECT (CASE WHEN e = 0 THEN f ELSE f + 4503599627370496 END)::numeric AS m,
                            power(2::numeric, 1075 - GREATEST(e, 1)) AS d
                     FROM (SELECT (b >> 52) & 2047 AS e, b & 4503599627370495 AS f
                           FROM (SELECT ('x' || encode(float8send(us::float8 / 86400000000::float8), 'hex'))
                                        ::bit(64)::bigint AS b) AS bits) AS parts) AS exact) AS rounded
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
    # datetime.isoformat() of a UTC datetime.
    """CREATE OR REPLACE FUNCTION pg_temp.lc_ladder_iso(t timestamptz) RETURNS text
       LANGUAGE sql IMMUTABLE AS $$
         SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                || CASE WHEN to_char(t AT TIME ZONE 'UTC', 'US') = '000000' THEN ''
                        ELSE '.' || to_char(t AT TIME ZONE 'UTC', 'US') END
                || '+00:00'
       $$""",
)
