"""`lifecycle_plugin.api`, the one module plugin authors import, works where their tests run.

Plugin authors' unit tests may run without Django settings (no pytest-django, no
DJANGO_SETTINGS_MODULE): those tests run here in a subprocess with such an environment.
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import lifecycle_plugin.api as api

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugin-authors.md"


def run_without_django(script: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_importing_the_api_and_its_pure_names_sets_up_no_django():
    done = run_without_django("""
        import sys
        import lifecycle_plugin.api as api
        from lifecycle_plugin.api import (
            Clock, CustomerFacts, CustomerRef, DeliveryReceipt, MemoryHost, Message, Stage, decide, hookimpl,
        )
        from django.conf import settings

        assert not settings.configured, "importing the api configured Django"
        assert "lifecycle_plugin.models" not in sys.modules
        assert Stage("lapsed") is Stage.LAPSED
        print("ok")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr


def test_a_plugin_is_unit_tested_with_make_plugin_manager_without_django_settings():
    """What a plugin author's test does: their hooks in a plugin manager, facts from the MemoryHost."""
    done = run_without_django("""
        import dataclasses
        from datetime import datetime, timedelta, timezone

        from lifecycle_plugin.api import (
            Clock, LifecycleConfig, MemoryHost, decide, hookimpl, is_skip, make_plugin_manager, skip,
        )

        class Advocates:
            @hookimpl
            def lifecycle_collect_facts(self, customers):
                return {c: {"reviews_written": 6 if c.email == "ann@example.com" else 0} for c in customers}

            @hookimpl
            def lifecycle_classify(self, facts, decision):
                if decision.stage == "loyal" and facts.extra.get("reviews_written", 0) >= 5:
                    return dataclasses.replace(decision, stage="advocate", rule="advocate:reviews")

        clock = Clock(datetime(2026, 1, 1, 12, tzinfo=timezone.utc))
        host = MemoryHost()
        for email in ("ann@example.com", "bob@example.com"):
            host.register(email, user_id=len(host.customers) + 1, at=clock() - timedelta(days=400))
            for days_ago in (300, 200, 100, 10):
                host.order(email, clock() - timedelta(days=days_ago))

        pm = make_plugin_manager(load_entry_points=False, extra=[Advocates()])
        refs = [ref for chunk in host.customer_chunks(10) for ref in chunk]
        facts = host.read_facts(refs)
        [extra] = pm.hook.lifecycle_collect_facts(customers=refs, facts=facts, host=host)
        stages = {}
        for ref in refs:
            these = dataclasses.replace(facts[ref], extra=extra[ref])
            built_in = decide(these, LifecycleConfig(), clock())
            chosen = pm.hook.lifecycle_classify(facts=these, decision=built_in, config=LifecycleConfig(), now=clock())
            stages[ref.email] = (chosen or built_in).stage
        assert stages == {"ann@example.com": "advocate", "bob@example.com": "loyal"}, stages
        assert "lifecycle_plugin.actions.winback" in dict(pm.list_name_plugin())  # the built-ins are there
        assert is_skip(skip("not today"))
        print("ok")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr


def test_a_process_that_configured_django_keeps_its_settings():
    """Saleor, the sandbox and pytest-django configure Django themselves: the api leaves that alone."""
    from django.conf import settings

    pm = api.make_plugin_manager(load_entry_points=False)
    assert settings.SETTINGS_MODULE == os.environ["DJANGO_SETTINGS_MODULE"]
    assert "lifecycle_plugin.actions.delivery" in dict(pm.list_name_plugin())


def test_every_exported_name_exists_and_the_plugin_authors_doc_names_it():
    assert len(api.__all__) == len(set(api.__all__))
    doc = DOC.read_text()
    undocumented = [name for name in api.__all__ if not re.search(rf"`{re.escape(name)}\b", doc)]
    assert undocumented == []
    for name in api.__all__:
        assert getattr(api, name) is not None
    assert set(api.__all__) <= set(dir(api))
