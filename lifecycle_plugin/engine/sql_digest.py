"""The ladder at one moment, in SQL, over the ladder digests (`rules.digest`): stage, rule
and tier of every profile for any settings, in one scan of the digest table.

Compiled, like `sql_ladder`, from the one statement of the ladder (`rules.ladder.LADDER`)
and a `LifecycleConfig`; no rule or threshold is written here. It decides what `decide`
decides at `now` (tests/ladder/test_digest.py), but needs no dated history: per profile
the counted orders are an ascending array of moments, so

- the order count is its length, the last order its last element;
- "at least `m` orders in the trailing window" is whether element `n - m + 1` is inside it;
- the at-risk threshold scales the stored median gap (`decide`'s exact arithmetic);
- a currency's spend in the tier window is the stored "spend from here on" at the first
  order inside the window, found by binary search (`width_bucket`) in that currency's slice.

Plain expressions only (no session functions): PostgreSQL can then scan the table with
parallel workers.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ..rules.config import LifecycleConfig
from ..rules.digest import DIGEST_VERSION, epoch_us
from ..rules.ladder import (
    LADDER,
    Always,
    HasAccount,
    Ladder,
    OpenCart,
    OrdersAtLeast,
    OrdersInWindowAtLeast,
    SilenceAtLeast,
)
from ..rules.stages import Stage
from .digest_writes import DIGEST_TABLE, PROFILE_TABLE
from .sql_ladder import US_PER_DAY, check_exact
from .sql_ladder_parts import literal

#: The last moment Python's datetime holds, in µs since the epoch.
MAX_US = epoch_us(datetime.max.replace(tzinfo=timezone.utc))


def decision_lateral(config: LifecycleConfig, now: datetime, *, digest: str = "d", with_rule: bool = False,
                     with_next_check: bool = False, ladder: Ladder = LADDER) -> str:
    """A LATERAL subquery giving ``stage`` and ``tier`` (and ``rule`` when asked: the rules'
    conditions are then evaluated twice per row; and ``next_check_us`` when asked: the
    moment `decide` reports as its next change, in µs since the epoch, NULL for never) of
    the digest row `digest` at `now` under `config`. Refuses (ConfigError, by field)
    settings it cannot decide exactly."""
    check_exact(config)
    return _Compiler(config, ladder, digest, epoch_us(now)).lateral(with_rule, with_next_check)


def whole_store_sql(in_force: LifecycleConfig, candidate: LifecycleConfig, now: datetime) -> WhatIfQuery:
    """The what-if's statement: per (stage, tier) in force and (stage, tier) under the
    candidate, the profiles with a digest, in one parallel scan; and the profiles in all, in
    the same snapshot (those without a current digest are the difference)."""
    check_exact(in_force)
    check_exact(candidate)
    before = _Compiler(in_force, LADDER, "d", epoch_us(now))
    after = _Compiler(candidate, LADDER, "d", epoch_us(now))
    return WhatIfQuery(before, after)


class WhatIfQuery:
    """`whole_store_sql`'s statement and the decoding of its rows.

    Each profile's four answers are packed into one integer group key (stage and tier as
    small ranks): with one computed key the planner expects few groups and aggregates in
    its parallel workers, where four text keys made it gather every row into the leader.
    A part the two configurations decide alike (the same compiled SQL: a change of the
    tier table leaves the stage alike, a change of a stage threshold the tier) is computed
    once and read for both."""

    def __init__(self, before: "_Compiler", after: "_Compiler"):
        self.stages = [stage.value for stage in Stage]
        self.tiers_before = [tier.code for tier in before.config.tiers]
        self.tiers_after = [tier.code for tier in after.config.tiers]
        stage_before, stage_after = before.stage_rank(self.stages), after.stage_rank(self.stages)
        tier_before, tier_after = before.tier_rank(), after.tier_rank()
        self.stage_shared = stage_before == stage_after
        self.tier_shared = tier_before == tier_after  # ranks alike; the codes are read per side
        #: Ranks are 1-based; a tier rank of 0 is no tier.
        self.stage_base = len(self.stages) + 1
        self.tier_base = max(len(self.tiers_before), len(self.tiers_after)) + 1
        parts = [(stage_before, self.stage_base), (f"COALESCE({tier_before}, 0)", self.tier_base)]
        if not self.stage_shared:
            parts.append((stage_after, self.stage_base))
        if not self.tier_shared:
            parts.append((f"COALESCE({tier_after}, 0)", self.tier_base))
        self.bases = [base for _, base in parts]
        key = parts[0][0]
        for expression, base in parts[1:]:
            key = f"({key}) * {base}::bigint + ({expression})"
        self.sql = f"""
            SELECT g.key, g.profiles, (SELECT count(*) FROM {PROFILE_TABLE}) AS all_profiles
            FROM (SELECT {key} AS key, count(*) AS profiles
                  FROM {DIGEST_TABLE} AS d
                  WHERE d.version = {DIGEST_VERSION}
                  GROUP BY 1) AS g"""

    def decode(self, key: int) -> tuple[str, str | None, str, str | None]:
        """(stage, tier) in force and (stage, tier) candidate of one group key."""
        ranks = []
        for base in reversed(self.bases):
            key, rank = divmod(key, base)
            ranks.append(rank)
        ranks.reverse()
        stage_before, tier_before, *rest = ranks
        stage_after = stage_before if self.stage_shared else rest.pop(0)
        tier_after = tier_before if self.tier_shared else rest.pop(0)
        return (self.stages[stage_before - 1], self.tiers_before[tier_before - 1] if tier_before else None,
                self.stages[stage_after - 1], self.tiers_after[tier_after - 1] if tier_after else None)


class _Compiler:
    def __init__(self, config: LifecycleConfig, ladder: Ladder, digest: str, now_us: int):
        self.config = config
        self.ladder = ladder
        self.d = digest
        self.now_us = now_us
        paid_only = ladder.counted.paid_only.of(config)
        self.moments = f"{digest}.paid_moments" if paid_only else f"{digest}.moments"
        self.median = f"{digest}.paid_median_gap_us" if paid_only else f"{digest}.median_gap_us"
        self.spend_from = f"{digest}.paid_spend_from" if paid_only else f"{digest}.spend_from"

    def days_us(self, setting) -> int:
        return setting.of(self.config) * US_PER_DAY

    # ------------------------------------------------------------ one profile at `now`

    @property
    def n(self) -> str:
        return f"cardinality({self.moments})"

    @property
    def last(self) -> str:
        return f"{self.moments}[{self.n}]"

    def risk(self) -> tuple[str, str]:
        """The at-risk threshold (µs) and the rule naming it (`decide.at_risk_after`)."""
        risk = self.ladder.at_risk_after
        global_us = self.days_us(risk.global_days)
        floor = self.days_us(risk.floor_days)
        multiplier = risk.multiplier.of(self.config)
        if multiplier == multiplier.to_integral_value():
            # A whole multiplier (the default 2): the product is a whole number of µs, exact
            # in bigint (the median is at most decades of µs, the multiplier at most 100),
            # and needs none of numeric's rounding, about a tenth of the what-if's time.
            scaled = f"({self.median} * {int(multiplier)}::bigint)"
        else:
            scaled = f"({self.median}::numeric * {literal(str(multiplier))}::numeric)"
            # Decimal.to_integral_value(): half to even (the product is never negative).
            scaled = (f"(CASE WHEN {scaled} - floor({scaled}) = 0.5 THEN floor({scaled}) + mod(floor({scaled}), 2) "
                      f"ELSE round({scaled}) END)::bigint")
        personal = f"GREATEST({scaled}, {floor})"
        applies = f"{self.n} >= {risk.min_orders.of(self.config)}"
        sooner = f"{applies} AND {personal} < {global_us}"
        return (f"(CASE WHEN {sooner} THEN {personal} ELSE {global_us} END)",
                f"(CASE WHEN {sooner} THEN {literal(risk.personal_rule)} ELSE {literal(risk.global_rule)} END)")

    def holds(self, condition) -> str:
        if isinstance(condition, SilenceAtLeast):
            return f"{self.now_us} - {self.last} >= {self.threshold(condition)}"
        if isinstance(condition, OrdersInWindowAtLeast):
            minimum = condition.minimum.of(self.config)
            start = self.now_us - self.days_us(condition.window_days)
            return f"({self.n} >= {minimum} AND {self.moments}[{self.n} - {minimum - 1}] > {start})"
        if isinstance(condition, OrdersAtLeast):
            return f"{self.n} >= {condition.minimum}"
        if isinstance(condition, Always):
            return "true"
        raise TypeError(f"the digest evaluator cannot compile {condition!r}")

    def pre_purchase(self, value) -> str:
        conditions = {OpenCart: f"{self.d}.open_cart_lines > 0", HasAccount: f"{self.d}.has_account",
                      Always: "true"}
        whens = " ".join(f"WHEN {conditions[type(r.when)]} THEN {value(r)}" for r in self.ladder.pre_purchase)
        return f"CASE {whens} END"

    def buyer(self, value) -> str:
        whens = " ".join(f"WHEN {self.holds(r.when)} THEN {value(r)}" for r in self.ladder.buyers)
        return f"CASE {whens} END"

    @property
    def tier_window_start(self) -> int:
        """The tier window's first moment (µs): orders after it count towards the tier."""
        return self.now_us - self.days_us(self.ladder.tiers.window_days)

    def spend(self, currency: str) -> str:
        """The spend in `currency` of the counted orders in the tier window (0 when none)."""
        d, cutoff = self.d, self.tier_window_start
        at = f"array_position({d}.spend_currencies, {literal(currency)})"
        first, end = f"{d}.spend_starts[{at}]", f"{d}.spend_starts[{at} + 1]"
        inside = f"{first} + width_bucket({cutoff}::bigint, {d}.spend_moments[{first}:{end} - 1])"
        return f"COALESCE({self.spend_from}[{inside}], 0)"

    def tier(self) -> str:
        """The highest tier reached in any one currency (`rules.ladder.tier_of`). The table is
        validated rising in every currency, so in one currency the tiers reached are the first
        `k`, `k` being how many of its thresholds the spend reaches (a binary search): each
        currency's spend is computed once, and the tier is the highest of those."""
        tiers = self.ladder.tiers.table.of(self.config)
        if not tiers:
            return "NULL::text"
        codes = ", ".join(literal(tier.code) for tier in tiers)
        return f"(ARRAY[{codes}]::text[])[{self.tier_rank()}]"

    def tier_rank(self) -> str:
        """The tier as its 1-based place in the table (NULL or 0: no tier)."""
        tiers = self.ladder.tiers.table.of(self.config)
        if not tiers:
            return "NULL::integer"

        def reached(currency: str, spend: str) -> str:
            """The place of the highest tier `spend` in `currency` reaches (NULL: none)."""
            ranks = [rank for rank, tier in enumerate(tiers, start=1) if currency in tier.thresholds]
            amounts = ", ".join(f"{literal(str(tiers[rank - 1].thresholds[currency]))}::numeric" for rank in ranks)
            return f"(ARRAY[{', '.join(map(str, ranks))}])[width_bucket({spend}, ARRAY[{amounts}])]"

        currencies = sorted({c for tier in tiers for c in tier.thresholds})
        any_currencies = f"GREATEST({', '.join(reached(c, self.spend(c)) for c in currencies)})"
        # Most customers buy in one currency: their slice is the whole array, found without
        # looking the currency up, and only that currency's thresholds are compared (a
        # currency they never bought in has 0 spend, below every threshold, which is > 0).
        one = " ".join(f"WHEN {literal(c)} THEN {reached(c, self.spend_in_only_currency())}" for c in currencies)
        return (f"(CASE WHEN cardinality({self.d}.spend_currencies) = 1 THEN CASE {self.d}.spend_currencies[1] {one} END "
                f"ELSE {any_currencies} END)")

    def spend_in_only_currency(self) -> str:
        """`spend` for a customer with orders in one currency (its slice is all of `spend_moments`)."""
        return f"COALESCE({self.spend_from}[1 + width_bucket({self.tier_window_start}::bigint, {self.d}.spend_moments)], 0)"

    def stage_rank(self, stages: list[str]) -> str:
        """The stage as its 1-based place in `stages`."""
        def rank(rule) -> str:
            return str(stages.index(rule.stage.value) + 1)
        return f"CASE WHEN {self.n} = 0 THEN {self.pre_purchase(rank)} ELSE {self.buyer(rank)} END"

    def lateral(self, with_rule: bool, with_next_check: bool = False) -> str:
        _, risk_rule = self.risk()
        stage = (f"CASE WHEN {self.n} = 0 THEN {self.pre_purchase(lambda r: literal(r.stage.value))} "
                 f"ELSE {self.buyer(lambda r: literal(r.stage.value))} END")
        rule = (f", CASE WHEN {self.n} = 0 THEN {self.pre_purchase(lambda r: literal(r.rule))} "
                f"ELSE {self.buyer(lambda r: risk_rule if r.rule is None else literal(r.rule))} END AS rule"
                if with_rule else "")
        next_check = (f", LEAST({self.representable(self.stage_change())}, {self.representable(self.tier_change())})"
                      " AS next_check_us" if with_next_check else "")
        return f"SELECT {stage} AS stage{rule}, {self.tier()} AS tier{next_check}"

    # ------------------------------------------------------------ the next change, with no new order

    def stage_change(self) -> str:
        """When the stage at `now` changes by time alone (µs; NULL: never), read from the
        ladder's conditions as `decide` dates it: the earliest moment at which a buyer rule
        tried before the one that holds turns true (a silence reaching its threshold: the last
        order + the threshold), or the rule that holds turns false (a window count falling
        below its minimum: when the `minimum`-th most recent order leaves the window). No
        other condition changes while no order comes in; pre-purchase stages never do."""
        def change(position: int) -> str:
            moments = [f"{self.last} + {self.threshold(r.when)}" for r in self.ladder.buyers[:position]
                       if isinstance(r.when, SilenceAtLeast)]
            holding = self.ladder.buyers[position].when
            if isinstance(holding, OrdersInWindowAtLeast):
                minimum = holding.minimum.of(self.config)
                moments.append(f"{self.moments}[{self.n} - {minimum - 1}] + {self.days_us(holding.window_days)}")
            return f"LEAST({', '.join(moments)})" if moments else "NULL::bigint"

        whens = " ".join(f"WHEN {self.holds(r.when)} THEN {change(position)}"
                         for position, r in enumerate(self.ladder.buyers))
        return f"CASE WHEN {self.n} = 0 THEN NULL::bigint ELSE CASE {whens} END END"

    def threshold(self, condition: SilenceAtLeast) -> str:
        return self.risk()[0] if condition.days is None else str(self.days_us(condition.days))

    def tier_change(self) -> str:
        """When the tier at `now` changes by time alone (µs; NULL: never, or no tier). Spend
        only falls as orders leave the tier window, so the tier falls when the last of the
        currencies that reach it has fallen below its threshold there. In one currency the
        spend "from here on" falls along its slice, so the order whose exit takes the spend
        below the threshold is the last one from which the spend still reaches it: counted,
        at the moment orders placed together leave together (`decide._tier`)."""
        tiers = self.ladder.tiers.table.of(self.config)
        if not tiers:
            return "NULL::bigint"
        d = self.d
        currencies = sorted({c for tier in tiers for c in tier.thresholds})
        ranks, exits = [], []
        for number, currency in enumerate(currencies):
            places = [rank for rank, tier in enumerate(tiers, start=1) if currency in tier.thresholds]
            amounts = (f"ARRAY[{', '.join(f'{literal(str(tiers[r - 1].thresholds[currency]))}::numeric' for r in places)}]")
            at = f"array_position({d}.spend_currencies, {literal(currency)})"
            first, end = f"{d}.spend_starts[{at}]", f"{d}.spend_starts[{at} + 1]"
            bucket = f"width_bucket({self.spend(currency)}, {amounts})"
            ranks.append(f"(ARRAY[{', '.join(map(str, places))}])[{bucket}] AS rank_{number}, "
                         f"({amounts})[{bucket}] AS reached_{number}, {first} AS first_{number}, "
                         f"{end} AS end_{number}")
            reaching = (f"(SELECT count(*) FROM unnest({self.spend_from}[c.first_{number}:c.end_{number} - 1]) AS s "
                        f"WHERE s >= c.reached_{number})")
            exits.append(f"CASE WHEN c.rank_{number} = c.held THEN {d}.spend_moments[c.first_{number} - 1 + {reaching}] END")
        held = f"GREATEST({', '.join(f'rank_{number}' for number in range(len(currencies)))})"
        window = self.days_us(self.ladder.tiers.window_days)
        return (f"(SELECT GREATEST({', '.join(exits)}) + {window} "
                f"FROM (SELECT *, {held} AS held FROM (SELECT {', '.join(ranks)}) AS r) AS c)")

    @staticmethod
    def representable(moment: str) -> str:
        """`moment`, or NULL (never) past the last moment Python's datetime holds (`decide._later`)."""
        return f"(SELECT CASE WHEN m <= {MAX_US} THEN m END FROM (SELECT {moment} AS m) AS x)"
