"""Orders → (x, t_x, T, average repeat spend), in weeks, as the papers define them."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("scipy")

from lifecycle_plugin.predict.summary import summarise  # noqa: E402


def test_one_customer_by_hand():
    # Days 0, 7 and 21 (two orders on day 7, the second in the evening); observed to day 28.
    summary = summarise([5, 5, 5, 5], [0.0, 7.2, 7.9, 21.0], [40.0, 10.0, 15.0, 35.0], end_day=28)
    assert summary.customer.tolist() == [5]
    assert summary.x.tolist() == [2.0]  # day 7 counts once
    assert summary.transactions.tolist() == [3]
    assert summary.t_x.tolist() == [3.0]  # 21 days
    assert summary.T.tolist() == [4.0]  # 28 days
    assert summary.monetary.tolist() == [30.0]  # (25 + 35) / 2: the first purchase left out


def test_customers_come_out_sorted_whatever_the_order_of_the_orders():
    summary = summarise([9, 2, 9, 2, 4], [14.0, 3.0, 0.0, 10.0, 6.0], [1.0, 2.0, 3.0, 4.0, 5.0], end_day=14)
    assert summary.customer.tolist() == [2, 4, 9]
    assert summary.x.tolist() == [1.0, 0.0, 1.0]
    assert summary.t_x.tolist() == [1.0, 0.0, 2.0]
    assert summary.T.tolist() == [11 / 7, 8 / 7, 2.0]
    assert summary.monetary.tolist() == [4.0, 0.0, 1.0]


def test_orders_after_the_end_day_are_not_seen():
    summary = summarise([1, 1, 1, 2], [0.0, 6.5, 8.0, 9.0], [1.0, 2.0, 3.0, 4.0], end_day=7.5)
    assert summary.customer.tolist() == [1]  # customer 2's first order comes later
    assert summary.x.tolist() == [1.0]
    assert summary.T.tolist() == [1.0]  # end_day 7.5 is calendar day 7


def test_no_orders_no_customers():
    summary = summarise([], [], [], end_day=10)
    assert len(summary) == 0


def test_the_order_of_the_orders_does_not_matter():
    rng = np.random.default_rng(5)
    customer = rng.integers(0, 300, 3000)
    day = rng.uniform(0, 400, 3000)
    amount = rng.uniform(1, 100, 3000)
    in_order = np.lexsort((day, customer))
    shuffled = rng.permutation(3000)
    sorted_summary = summarise(customer[in_order], day[in_order], amount[in_order], end_day=380)
    shuffled_summary = summarise(customer[shuffled], day[shuffled], amount[shuffled], end_day=380)
    for name in ("customer", "x", "t_x", "T", "transactions"):
        np.testing.assert_array_equal(getattr(sorted_summary, name), getattr(shuffled_summary, name))
    np.testing.assert_allclose(sorted_summary.monetary, shuffled_summary.monetary)


def test_integer_days_are_calendar_days_and_fractional_days_are_floored():
    # Days before the epoch floor downwards too: -0.5 is day -1, as -1.0 is.
    fractional = summarise([1, 1, 1, 2], [-0.5, -1.0, 6.9, 3.2], [10.0, 20.0, 30.0, 5.0], end_day=13.5)
    calendar = summarise(
        np.array([1, 1, 1, 2], dtype=np.int32), np.array([-1, -1, 6, 3], dtype=np.int32), [10.0, 20.0, 30.0, 5.0],
        end_day=13,
    )
    for summary in (fractional, calendar):
        assert summary.x.tolist() == [1.0, 0.0]  # both day -1 orders are one transaction
        assert summary.t_x.tolist() == [1.0, 0.0]
        assert summary.T.tolist() == [2.0, 10 / 7]
        assert summary.monetary.tolist() == [30.0, 0.0]
