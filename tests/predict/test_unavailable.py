"""Without scipy (the predict extra not installed): a clear error, or a reason and no figures."""

from __future__ import annotations

import importlib
import sys

import pytest

from lifecycle_plugin.predict import PredictUnavailable, missing_reason
from lifecycle_plugin.predict.store import predict_store


#: The modules that load numpy and scipy when imported.
SCIENTIFIC_MODULES = ("_fit", "bgnbd", "gamma_gamma", "summary", "simulate")


@pytest.fixture
def without_scipy(monkeypatch):
    """Imports of scipy fail, and the predict modules that loaded it are imported afresh."""
    for name in list(sys.modules):
        if name == "scipy" or name.startswith("scipy."):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "scipy", None)
    for module in SCIENTIFIC_MODULES:
        monkeypatch.delitem(sys.modules, f"lifecycle_plugin.predict.{module}", raising=False)


@pytest.mark.parametrize("module", ["bgnbd", "gamma_gamma", "summary", "simulate"])
def test_importing_a_model_says_what_to_install(without_scipy, module):
    with pytest.raises(PredictUnavailable, match=r"scipy is not installed \(install the predict extra: "
                       r"pip install 'saleor-lifecycle\[predict\]'\)"):
        importlib.import_module(f"lifecycle_plugin.predict.{module}")


def test_the_store_prediction_is_a_reason_and_no_figures(without_scipy):
    prediction = predict_store([1, 1, 2], [0.0, 10.0, 3.0], [5.0, 6.0, 7.0], ["USD"] * 3, as_of_day=30)
    assert prediction.reason == missing_reason()
    assert "scipy is not installed" in prediction.reason
    assert prediction.purchase_model is None and prediction.customer is None
    assert prediction.expected_orders is None and prediction.probability_alive is None
    assert prediction.spend == {}


def test_with_scipy_nothing_is_missing():
    pytest.importorskip("scipy")
    assert missing_reason() is None
