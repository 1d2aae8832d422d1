"""Tests against a real Saleor: the host contract and end-to-end flows.

They need Saleor installed and Saleor's test settings, i.e. the command
``python -m pytest tests/saleor`` run in a Saleor environment. Every module calls
`require_saleor()` first, so anywhere else (CI, the project's own venv, the whole
suite under the sandbox settings) it is skipped with a one-line reason.
"""

import pytest

NO_SALEOR = "saleor is not importable: these tests run inside a Saleor environment (python -m pytest tests/saleor)"
NOT_SALEOR_SETTINGS = (
    "Django settings are not Saleor's test settings: run `python -m pytest tests/saleor` in a Saleor environment"
)


def saleor_settings_in_use() -> bool:
    try:
        import saleor  # noqa: F401
    except ImportError:
        return False
    from django.conf import settings

    try:
        installed = settings.INSTALLED_APPS
    except Exception:  # settings not configured at all
        return False
    return "saleor.account" in installed and "saleor.tests" in installed


def require_saleor() -> None:
    """Skip the calling test module unless Saleor and its test settings are in use."""
    pytest.importorskip("saleor", reason=NO_SALEOR)
    if not saleor_settings_in_use():
        pytest.skip(NOT_SALEOR_SETTINGS, allow_module_level=True)
