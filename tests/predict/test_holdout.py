"""Fit on months 1–24 of a generated store, predict months 25–36, compare with what happened.

The tables in docs/predictions.md are this test's output (python -m tests.predict.holdout).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("scipy")

from . import holdout  # noqa: E402

DOC = Path(__file__).resolve().parents[2] / "docs" / "predictions.md"


@pytest.fixture(scope="module")
def result():
    return holdout.run()


def test_the_fit_recovers_the_population_it_was_drawn_from(result):
    purchases = result.prediction.purchase_model
    spend = result.prediction.spend["USD"].model
    truth = holdout.POPULATION
    # 20,000 customers: r and α are pinned down closely, the drop-out mix (a, b) less so.
    assert purchases.r == pytest.approx(truth.r, rel=0.10)
    assert purchases.alpha == pytest.approx(truth.alpha, rel=0.10)
    assert purchases.a == pytest.approx(truth.a, rel=0.15)
    assert purchases.b == pytest.approx(truth.b, rel=0.15)
    assert spend.p == pytest.approx(truth.p_spend, rel=0.10)
    assert spend.q == pytest.approx(truth.q, rel=0.10)
    assert spend.gamma == pytest.approx(truth.gamma, rel=0.10)


def test_predicted_orders_and_spend_match_the_holdout_per_decile(result):
    assert result.predicted_orders == pytest.approx(result.actual_orders, rel=0.05)
    assert result.predicted_spend == pytest.approx(result.actual_spend, rel=0.10)
    for decile in result.deciles:
        # Near zero a relative error means little: allow 0.05 orders there.
        assert abs(decile.predicted_orders - decile.actual_orders) <= max(0.15 * decile.actual_orders, 0.05), decile
        assert decile.predicted_spend == pytest.approx(decile.actual_spend, rel=0.15), decile
    # The ranking works: each decile's customers ordered more than the one below.
    actual = [decile.actual_orders for decile in result.deciles]
    assert actual == sorted(actual)


def test_the_doc_shows_this_tests_tables(result):
    assert holdout.render(result) in DOC.read_text(), (
        "docs/predictions.md is out of date: paste the output of `python -m tests.predict.holdout`"
    )
