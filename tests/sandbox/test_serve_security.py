"""The sandbox server against a web page in the developer's browser: the key that signs
tokens is random per data folder, other origins can neither read answers (CORS) nor
make the server run a request, and a non-loopback --host is warned about."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission, User
from django.core import signing
from django.test import Client

from lifecycle_plugin.sandbox import auth as sandbox_auth
from lifecycle_plugin.sandbox import cli
from lifecycle_plugin.sandbox.secret_key import key_path, sandbox_secret_key

pytestmark = pytest.mark.django_db

COUNTS = '{"query": "{ lifecycleStageCounts { stage { code } count } }"}'
EVIL = "https://evil.example"


@pytest.fixture
def staff():
    user = User.objects.create(username="sandbox-staff", email="staff@sandbox.example", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_user", content_type__app_label="auth"))
    return user


# --------------------------------------------------------------------------- the key


def test_each_data_folder_gets_its_own_key_and_keeps_it(tmp_path):
    first, second = tmp_path / "one" / "pgdata18", tmp_path / "two" / "pgdata18"

    key = sandbox_secret_key(first)

    assert len(key) >= 50 and key != sandbox_secret_key(second)
    assert sandbox_secret_key(first) == key  # read back, not made again
    assert stat.S_IMODE(key_path(first).stat().st_mode) == 0o600
    assert not first.exists()  # beside the data folder: initdb wants that one empty


def test_a_key_file_others_can_read_is_refused(tmp_path):
    data = tmp_path / "pgdata18"
    sandbox_secret_key(data)
    key_path(data).chmod(0o644)
    with pytest.raises(RuntimeError, match="readable by other users"):
        sandbox_secret_key(data)


def test_the_settings_take_the_data_folders_key(tmp_path):
    # A fresh interpreter loads the sandbox settings as `lifecycle-sandbox` does.
    env = {**os.environ, "LIFECYCLE_SANDBOX_DATA": str(tmp_path / "pgdata18"),
           "DJANGO_SETTINGS_MODULE": "lifecycle_plugin.sandbox.settings"}
    env.pop("SECRET_KEY", None)
    env["DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/unused"  # parsed, never connected to
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert runs[0] == runs[1] == key_path(tmp_path / "pgdata18").read_text() + "\n"


def test_a_token_signed_with_the_old_shipped_key_is_refused(staff):
    forged = signing.dumps({"user_id": staff.pk}, key="lifecycle-sandbox-not-secret", salt=sandbox_auth.TOKEN_SALT)
    body = Client().post("/graphql/", COUNTS, content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {forged}").json()
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --------------------------------------------------------------------------- origins


def test_a_page_of_another_origin_gets_no_cors_header():
    client = Client()
    preflight = client.options("/graphql/", HTTP_ORIGIN=EVIL, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                               HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type")
    assert "Access-Control-Allow-Origin" not in preflight
    assert "Access-Control-Allow-Origin" not in client.get("/graphql/", HTTP_ORIGIN=EVIL)


def test_a_post_from_another_origin_runs_nothing_even_with_a_valid_token(staff, monkeypatch):
    ran = []
    monkeypatch.setattr(sandbox_auth, "authenticate_sandbox_request", lambda request: ran.append(request))
    token = sandbox_auth.issue_sandbox_token(staff)
    response = Client().post("/graphql/", COUNTS, content_type="application/json",
                             HTTP_ORIGIN=EVIL, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 403 and not ran
    assert response.json()["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "text/plain"])
def test_a_plain_form_post_is_refused(content_type):
    # What a page can send without a CORS preflight: refused for its origin, and
    # without one (an old browser) for its content type.
    client = Client()
    body = 'query={ lifecycleStageCounts { count } }'
    assert client.generic("POST", "/graphql/", body, content_type=content_type, HTTP_ORIGIN=EVIL).status_code == 403
    assert client.generic("POST", "/graphql/", body, content_type=content_type).status_code == 415


def test_the_servers_own_pages_may_post(staff):
    token = sandbox_auth.issue_sandbox_token(staff)
    response = Client().post("/graphql/", COUNTS, content_type="application/json",
                             HTTP_ORIGIN="http://testserver", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200 and "errors" not in response.json()


def test_a_configured_origin_gets_exactly_that_origin(staff, settings):
    settings.ALLOWED_GRAPHQL_ORIGINS = ["http://localhost:3000"]
    client = Client()
    preflight = client.options("/graphql/", HTTP_ORIGIN="http://localhost:3000")
    assert preflight["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert preflight["Vary"] == "Origin"
    token = sandbox_auth.issue_sandbox_token(staff)
    answer = client.post("/graphql/", COUNTS, content_type="application/json",
                         HTTP_ORIGIN="http://localhost:3000", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status_code == 200 and answer["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "errors" not in answer.json()
    # Another origin, or the configured one on another port, still gets nothing.
    for other in (EVIL, "http://localhost:3001"):
        assert "Access-Control-Allow-Origin" not in client.options("/graphql/", HTTP_ORIGIN=other)
        assert client.post("/graphql/", COUNTS, content_type="application/json", HTTP_ORIGIN=other).status_code == 403


# --------------------------------------------------------------------------- serve


@pytest.fixture
def serve(monkeypatch, settings):
    """Run `lifecycle-sandbox serve ARGS` without starting the server; returns what it ran with."""
    settings.ALLOWED_GRAPHQL_ORIGINS = []  # restored after the test, whatever serve sets
    settings.LIFECYCLE_PUBLIC_URL = "http://127.0.0.1:8000/"
    started = {}

    def runserver(name, address, **options):
        started.update(address=address, origins=list(django_settings.ALLOWED_GRAPHQL_ORIGINS),
                       public_url=django_settings.LIFECYCLE_PUBLIC_URL)

    monkeypatch.setattr("django.core.management.call_command",
                        lambda name, *args, **options: runserver(name, *args, **options) if name == "runserver" else None)

    def run(*args):
        code = cli.main(["--no-progress", "serve", *args])
        return code, started

    return run


def test_serve_warns_when_the_host_is_not_loopback(serve, capsys):
    assert serve("--host", "0.0.0.0")[0] == 0
    assert "WARNING: --host 0.0.0.0 is not a loopback address" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_serve_on_loopback_does_not_warn(serve, capsys, host):
    assert serve("--host", host)[0] == 0
    assert "WARNING" not in capsys.readouterr().err


def test_serve_allows_only_the_origins_it_is_given(serve):
    code, started = serve("--cors-origin", "http://localhost:3000", "--cors-origin", "https://Shop.Example.com/")
    assert code == 0
    assert started["origins"] == ["http://localhost:3000", "https://shop.example.com"]
    assert serve()[1]["origins"] == []


@pytest.mark.parametrize("bad", ["*", "null", "localhost:3000", "http://localhost:3000/app", "file:///tmp/x"])
def test_serve_refuses_what_is_not_one_exact_origin(bad, capsys):
    with pytest.raises(SystemExit):
        cli.main(["serve", "--cors-origin", bad])
    assert "--cors-origin" in capsys.readouterr().err


def test_unsubscribe_links_point_at_the_server_serve_starts(serve, monkeypatch):
    monkeypatch.delenv("LIFECYCLE_PUBLIC_URL", raising=False)
    assert serve("--port", "8123")[1]["public_url"] == "http://127.0.0.1:8123/"
    monkeypatch.setenv("LIFECYCLE_PUBLIC_URL", "https://sandbox.example.com/")
    django_settings.LIFECYCLE_PUBLIC_URL = "https://sandbox.example.com/"  # as settings.py reads the variable
    assert serve("--port", "8124")[1]["public_url"] == "https://sandbox.example.com/"
