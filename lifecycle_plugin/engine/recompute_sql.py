"""A recompute's chunk sorted in SQL: which profiles the new settings leave as they are,
which only need a new next check, and which the event path must decide.

After a change of a stage threshold or of the tier table most customers in scope keep
their stage, rule and tier; many keep their next check too (a lapsed customer has none; a
buyer on their personal rhythm keeps it when the global threshold moves). The digest
evaluator (`sql_digest`, held equal to `decide` on stage, rule, tier and next change)
decides every profile of the chunk under the new settings from its ladder digest, and
compares with the stored profile:

- ``same``: stage, rule, tier and next check all as stored: nothing to write;
- ``check``: only the next check differs: written here (the next check and `version`; no
  history, no hook, no projection);
- ``decide``: anything else goes through the event path as before (`process_many`): a
  move, a rule that changed, a profile without a current digest, or one whose check fell
  due and was not swept yet (its time moves are replayed there).

That is exact only where the stored summary (order counts, spends, first and last order)
cannot change, so the changed settings must be among `SORTED_FIELDS`: the tier window and
"paid only" change which orders and amounts the profile sums up, and take the event path
throughout. Third-party `lifecycle_classify`/`lifecycle_collect_facts` hooks decide what the
digest does not know: with one installed the event path decides everyone. A profile whose
digest is older than the host's facts (an order whose event is still in the inbox) is
compared as of its last decision; that event decides it again with the new settings.

A profile left as it is, or given its new next check only, keeps its `decided_at` and the
summary of that moment: the spend in the tier window is a figure of the moment it was
decided, as on every profile no event or check has reached since (the event path would
have summed the window again at the recompute's moment). Its next check is the same at
either moment: with the stage, rule and tier unchanged, neither the silence that ends the
stage nor the order whose exit ends the tier depends on when it is looked at.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from ..hooks import has_third_party_implementations
from ..rules.digest import DIGEST_VERSION, EPOCH
from ..rules.ladder import why_not_exact
from .digest_writes import DIGEST_TABLE, PROFILE_TABLE
from .sql_digest import decision_lateral
from .what_if import DECISION_HOOKS

#: Settings whose change leaves every profile's summary as it is: only the decision and
#: its next check can change, which the digest evaluator compares.
SORTED_FIELDS = frozenset({
    "tiers", "at_risk_days", "lapsed_days", "loyal_min_orders", "loyal_window_days",
    "personal_gap_min_orders", "personal_gap_multiplier", "personal_gap_floor_days",
})


def why_not_sql(engine, changed: Iterable[str]) -> str | None:
    """Why a recompute of `changed` cannot be sorted in SQL for `engine` (None: it can)."""
    outside = [name for name in changed if name not in SORTED_FIELDS]
    if outside:
        return "a change of " + ", ".join(outside) + " can change every profile's order counts and spends"
    hooks = [name for name in DECISION_HOOKS if has_third_party_implementations(engine.pm, name)]
    return why_not_exact(hooks, engine.config)


@dataclass
class SortedChunk:
    #: Profile ids the event path decides.
    to_decide: list[int]
    #: Profile id -> its new next check (None: never), for profiles where only that changes.
    next_checks: dict[int, datetime | None]
    #: Profiles left as they are.
    same: int


def sort_chunk(engine, profile_ids: Sequence[int]) -> SortedChunk:
    """Sort the profiles `profile_ids` (their customers locked by the caller) under the
    engine's settings at its clock."""
    now = engine.clock()
    decided = decision_lateral(engine.config, now, with_rule=True, with_next_check=True)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""-- The chunk's digests first: a join of the digest table itself had the planner
                -- decide every digest of the store before keeping the chunk's.
                WITH chunk_digests AS MATERIALIZED (
                    SELECT * FROM {DIGEST_TABLE} WHERE profile_id = ANY(%(ids)s::bigint[]) AND version = {DIGEST_VERSION})
                SELECT p.id,
                       CASE WHEN x.stage IS NULL OR p.next_check_at <= %(now)s
                                 OR x.stage IS DISTINCT FROM p.stage OR x.rule IS DISTINCT FROM p.stage_rule
                                 OR x.tier IS DISTINCT FROM p.tier THEN 'decide'
                            WHEN x.next_check_us IS NOT DISTINCT FROM
                                 (extract(epoch FROM p.next_check_at) * 1000000)::bigint THEN 'same'
                            ELSE 'check' END,
                       x.next_check_us
                FROM {PROFILE_TABLE} AS p
                LEFT JOIN (SELECT d.profile_id, y.* FROM chunk_digests AS d CROSS JOIN LATERAL ({decided}) AS y) AS x
                       ON x.profile_id = p.id
                WHERE p.id = ANY(%(ids)s::bigint[])""",
            {"now": now, "ids": list(profile_ids)},
        )
        rows = cursor.fetchall()
    chunk = SortedChunk([], {}, 0)
    for profile_id, kind, next_check_us in sorted(rows):
        if kind == "decide":
            chunk.to_decide.append(profile_id)
        elif kind == "check":
            chunk.next_checks[profile_id] = (None if next_check_us is None
                                             else EPOCH + timedelta(microseconds=next_check_us))
        else:
            chunk.same += 1
    return chunk


def write_next_checks(next_checks: dict[int, datetime | None]) -> None:
    """The new next checks (a new `version` of each profile; its decision and summary kept)."""
    if not next_checks:
        return
    ids = list(next_checks)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {PROFILE_TABLE} AS p
                SET next_check_at = v.next_check_at, version = p.version + 1, updated_at = %s
                FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, next_check_at)
                WHERE p.id = v.id""",
            [timezone.now(), ids, [next_checks[i] for i in ids]],
        )
