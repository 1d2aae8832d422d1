"""`lifecycle-sandbox settings [NAME=VALUE ...]`: the sandbox's Dashboard settings page.

Without assignments it prints the rule settings in force and the last recompute. With
them it validates the whole set as the Dashboard does (a bad value changes nothing and
names its field), saves them (`StoredSetting`), and, when a threshold changed, opens the
same recompute a Dashboard save does (`engine.recompute`) and runs it here, printing its
progress, unless --no-run (then `lifecycle_recompute --run` or a worker does it).
"""

from __future__ import annotations

from .common import Out, make_engine, migrate, parse_now


def cmd_settings(args, out: Out) -> int:
    from django.db import transaction

    from ...conf import RULE_SETTINGS, check_before_saving, dashboard_messages, load_settings, setting_named
    from ...conf import ConfigError
    from ...engine.recompute import describe, request_recompute, run_recompute, status
    from ..host import SandboxHost
    from ..models import StoredSetting

    migrate()
    host = SandboxHost()
    current = dict(host.plugin_settings())
    pairs = {}
    for assignment in args.assignments:
        name, sep, value = assignment.partition("=")
        name = name.strip()
        if not sep or setting_named(name) is None:
            out(f"lifecycle-sandbox settings: {assignment!r} is not NAME=VALUE with a known setting name")
            return 2
        pairs[name] = value
    if not pairs:
        for setting in RULE_SETTINGS:
            out(f"  {setting.name} = {current.get(setting.name, setting.default)!s}".replace("\n", "; "))
        out(describe(status()))
        return 0
    try:
        old = load_settings(current).config
    except ConfigError:
        old = None
    try:
        new = check_before_saving({**current, **pairs}).config
    except ConfigError as exc:
        for message in dashboard_messages(exc).values():
            out(f"refused: {message}")
        return 2
    with transaction.atomic():
        for name, value in pairs.items():
            StoredSetting.objects.update_or_create(name=name, defaults={"value": value})
        run = request_recompute(old or load_settings({}).config, new)
    out(f"saved {', '.join(sorted(pairs))}")
    if run is None:
        out("no stage or tier depends on what changed: nothing to recompute")
        return 0
    if args.no_run:
        out(describe(status()))
        return 0
    now = parse_now(args.now)
    engine = make_engine(host, lambda: now)
    finished = run_recompute(engine, chunk_size=args.chunk_size, progress=lambda state: out(describe(state)))
    out(describe(finished or status()))
    return 0
