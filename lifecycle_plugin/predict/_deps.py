"""The optional scientific dependencies, loaded in one place with one clear error."""

from __future__ import annotations

INSTALL_HINT = "install the predict extra: pip install 'saleor-lifecycle[predict]'"


class PredictUnavailable(ImportError):
    """numpy or scipy is not installed, so no model can be fitted or scored."""


def missing_reason() -> str | None:
    """Why predictions are unavailable in this environment, or None when they are available."""
    try:
        load()
    except PredictUnavailable as error:
        return str(error)
    return None


def load():
    """``(numpy, scipy.special, scipy.optimize)``, or PredictUnavailable naming what is missing."""
    try:
        import numpy
    except ImportError as error:
        raise PredictUnavailable(f"numpy is not installed ({INSTALL_HINT})") from error
    try:
        import scipy.optimize
        import scipy.special
    except ImportError as error:
        raise PredictUnavailable(f"scipy is not installed ({INSTALL_HINT})") from error
    return numpy, scipy.special, scipy.optimize
