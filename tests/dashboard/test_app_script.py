"""The pages' script speaks the Dashboard's AppBridge: run under Node with the Dashboard's side played.

What is checked is what the Dashboard's source and @saleor/app-sdk do (SALEOR_NOTES §15.4):
the app announces itself with `notifyReady` carrying an actionId, posted only to the
Dashboard's origin (from document.referrer); the token comes from `handshake` and is
replaced by `tokenRefresh`; a message from another origin or another window is ignored.
Browser tests in a real Chromium come with the pages.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SCRIPT = HERE.parent.parent / "lifecycle_plugin" / "graphql" / "pages_assets" / "app.js"
DASHBOARD = "https://dashboard.example"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def run(tmp_path, messages: list[dict], referrer: str = DASHBOARD + "/dashboard/apps/QXBwOjE=/app") -> dict:
    messages_file = tmp_path / "messages.json"
    messages_file.write_text(json.dumps(messages))
    result = subprocess.run(["node", str(HERE / "harness.js"), str(SCRIPT), referrer, str(messages_file)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def from_dashboard(type_: str, payload: dict, origin: str = DASHBOARD, from_parent: bool = True) -> dict:
    return {"origin": origin, "fromParent": from_parent, "data": {"type": type_, "payload": payload}}


def test_the_page_announces_itself_to_the_dashboard_only(tmp_path):
    result = run(tmp_path, [])
    ((posted),) = result["posted"]
    assert posted["targetOrigin"] == DASHBOARD
    assert posted["message"]["type"] == "notifyReady"
    assert len(posted["message"]["payload"]["actionId"]) >= 16
    assert result["requests"] == [] and result["theme"] == "dark"


def test_the_handshakes_token_calls_the_api_and_the_refreshed_one_replaces_it(tmp_path):
    result = run(tmp_path, [
        from_dashboard("handshake", {"token": "first", "version": 1}),
        from_dashboard("tokenRefresh", {"token": "second"}),
        from_dashboard("theme", {"theme": "light"}),
        from_dashboard("localeChanged", {"locale": "pl"}),
        {"origin": DASHBOARD, "fromParent": True, "data": {"type": "retry"}},  # the page's own button
    ])
    assert [r["authorization"] for r in result["requests"]] == ["Bearer first", "Bearer second"]
    assert result["requests"][0]["url"] == "/plugins/global/saleor.lifecycle/app/graphql/"
    assert "lifecycleViewer" in result["requests"][0]["body"]["query"]
    assert result["email"] == "owner@example.com" and result["viewerShown"]
    assert (result["theme"], result["lang"]) == ("light", "pl")


def test_messages_from_another_origin_or_window_are_ignored(tmp_path):
    result = run(tmp_path, [
        from_dashboard("handshake", {"token": "forged"}, origin="https://evil.example"),
        from_dashboard("handshake", {"token": "forged"}, from_parent=False),
    ])
    assert result["requests"] == [] and not result["viewerShown"]


def test_outside_the_dashboard_the_page_says_why_and_sends_nothing(tmp_path):
    result = run(tmp_path, [from_dashboard("handshake", {"token": "t"}, origin="null")], referrer="")
    assert result["posted"] == [] and result["requests"] == []
    assert result["statusIsError"] and "Saleor Dashboard" in result["status"]
