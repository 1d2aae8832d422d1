"""The Dashboard pages under the plugin's route: served while the plugin is on, 404 while off."""

from . import require_saleor

require_saleor()

import pytest  # noqa: E402
from django.test import Client  # noqa: E402

from lifecycle_plugin.saleor.dashboard.manifest import APP_PATH  # noqa: E402

pytestmark = pytest.mark.django_db

PAGES = ["", "overview/", "settings/", "customer/"]


@pytest.mark.usefixtures("lifecycle_plugin")
@pytest.mark.parametrize("page", PAGES)
def test_each_page_loads_only_its_own_script_and_style(page):
    response = Client().get(APP_PATH + page)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    html = response.content.decode()
    assert f'<script src="{APP_PATH}app.js" defer></script>' in html
    assert f'data-api="{APP_PATH}graphql/"' in html
    assert "http://" not in html and "https://" not in html


@pytest.mark.usefixtures("lifecycle_plugin")
def test_the_script_speaks_the_dashboards_handshake():
    response = Client().get(APP_PATH + "app.js")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/javascript")
    script = response.content.decode()
    for part in ('"handshake"', '"tokenRefresh"', '"notifyReady"', "actionId", "document.referrer",
                 "event.origin !== dashboardOrigin", "lifecycleViewer"):
        assert part in script
    assert Client().get(APP_PATH + "app.css").status_code == 200


@pytest.mark.usefixtures("lifecycle_plugin")
def test_unknown_paths_and_writes_to_pages_are_refused():
    assert Client().get(APP_PATH + "nothing-here/").status_code == 404
    assert Client().get(APP_PATH + "register/").status_code == 404
    assert Client().post(APP_PATH + "overview/").status_code == 405


@pytest.mark.parametrize("path", [*PAGES, "app.js", "graphql/"])
def test_everything_answers_404_while_the_plugin_is_off(lifecycle_plugin, path):
    assert Client().get(APP_PATH + path).status_code in (200, 405)  # graphql/ answers GET with 405
    lifecycle_plugin.active = False
    lifecycle_plugin.save(update_fields=["active"])
    assert Client().get(APP_PATH + path).status_code == 404


@pytest.mark.usefixtures("lifecycle_plugin")
def test_a_page_links_its_assets_under_the_prefix_saleor_is_served_at():
    html = Client().get(APP_PATH + "overview/", SCRIPT_NAME="/shop").content.decode()
    assert f'<script src="/shop{APP_PATH}app.js" defer></script>' in html
    assert f'data-api="/shop{APP_PATH}graphql/"' in html
