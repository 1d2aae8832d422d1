"""The per-request execution context: the viewer, lazy services, loaders, errors."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from graphql.error import GraphQLError
from promise import Promise
from promise.dataloader import DataLoader

from ..models import StageTransition, TierChange
from ..rules import ConfigError, LifecycleConfig
from .errors import INVALID_CONFIG, LifecycleError, located, permission_denied, unauthenticated
from .viewer import Viewer

if TYPE_CHECKING:
    import pluggy

    from ..engine import LifecycleEngine
    from ..host import Host

EngineFactory = Callable[[], "LifecycleEngine"]


class RowsByProfile(DataLoader):
    """All rows of one history model per profile id, oldest first, in one query per batch.

    A page of customers asking for their history costs one query, not one per customer.
    """

    def __init__(self, model: type, **kwargs: Any):
        super().__init__(**kwargs)
        self.model = model

    def batch_load_fn(self, profile_ids: list[int]) -> Promise:
        grouped: dict[int, list] = defaultdict(list)
        for row in self.model.objects.filter(profile_id__in=profile_ids).order_by("occurred_at", "id"):
            grouped[row.profile_id].append(row)
        return Promise.resolve([grouped[profile_id] for profile_id in profile_ids])


class GraphQLContext:
    """What every resolver gets as ``info.context``.

    The host, the settings in force and the engine are made lazily and at most once
    per request: most queries need none of them, and building an engine loads the
    hook plugins.
    """

    #: Saleor patches graphql-core so that every resolver runs in
    #: ``allow_writer_in_context(info.context)``, which reads this flag. The
    #: recompute mutation writes, and the plugin's HTTP route already runs on the
    #: writer database, so reads stay there too.
    allow_replica = False

    def __init__(self, viewer: Viewer, engine_factory: EngineFactory | None = None):
        self.viewer = viewer
        self._engine_factory = engine_factory
        #: Errors the schema raised on purpose (LifecycleError), reported next to the
        #: executor's own; see `ExpectedErrors` in execution.py.
        self.errors: list[GraphQLError] = []
        #: ``_entities`` representations resolved so far; their limit is per request.
        self.entities_asked = 0
        self.transitions = RowsByProfile(StageTransition)
        self.tier_changes = RowsByProfile(TierChange)

    # ------------------------------------------------------------------ services

    @cached_property
    def engine(self) -> LifecycleEngine:
        from ..runtime import get_engine

        factory = self._engine_factory or get_engine
        try:
            return factory()
        except ConfigError as exc:
            raise invalid_settings(exc) from exc

    @cached_property
    def host(self) -> Host:
        if self._engine_factory is not None:
            return self.engine.host
        from ..runtime import get_host

        return get_host()

    @cached_property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The plugins the engine calls: the given engine's, else this process's."""
        if self._engine_factory is not None:
            return self.engine.pm
        from ..hooks import process_plugin_manager

        return process_plugin_manager()

    @cached_property
    def stage_tier_pairs(self) -> Counter:
        """Customers per (stage, tier) now, counted once a request for every field that needs it."""
        from .statistics import count_stage_tier_pairs

        return count_stage_tier_pairs()

    @cached_property
    def config(self) -> LifecycleConfig:
        """The thresholds in force (the store owner's settings)."""
        if self._engine_factory is not None:
            return self.engine.config
        from ..conf import load_settings
        from ..runtime import owner_settings

        try:
            return load_settings(owner_settings(self.host)).config
        except ConfigError as exc:
            raise invalid_settings(exc) from exc

    @cached_property
    def settings(self) -> Mapping[str, Any]:
        """The parsed settings in force (the actions' switches and options)."""
        if self._engine_factory is not None:
            return self.engine.settings
        from ..conf import load_settings
        from ..runtime import owner_settings

        try:
            return load_settings(owner_settings(self.host)).values
        except ConfigError as exc:
            raise invalid_settings(exc) from exc

    def now(self) -> datetime:
        """The engine's clock when one was given (tests, sandbox replays), else the wall clock."""
        if self._engine_factory is not None:
            return self.engine.clock()
        return timezone.now()

    # ------------------------------------------------------------------ errors and permissions

    def add_error(self, error: LifecycleError, info: Any, *path_suffix: Any) -> None:
        self.errors.append(located(error, info.field_asts, [*info.path, *path_suffix]))

    def require_account(self) -> Viewer:
        """The caller is a signed-in customer or staff member (someone with a lifecycle)."""
        if not self.viewer.is_authenticated:
            raise unauthenticated("Sign in as a customer: this field needs a customer's access token.")
        if not self.viewer.has_account:
            raise permission_denied("An app has no lifecycle of its own; use customerLifecycle.")
        return self.viewer

    def require_manage_users(self) -> Viewer:
        """The caller is staff or an app holding MANAGE_USERS."""
        if not self.viewer.is_authenticated:
            raise unauthenticated("Sign in as staff or use an app token: this field needs MANAGE_USERS.")
        if not self.viewer.can_manage_users:
            raise permission_denied("You need the MANAGE_USERS permission for this field.")
        return self.viewer

    def require_manage_plugins(self, to: str = "change the plugin's settings") -> Viewer:
        """The caller holds MANAGE_PLUGINS (to change settings, or to send a test message)."""
        if not self.viewer.is_authenticated:
            raise unauthenticated(f"Sign in as staff: to {to} needs MANAGE_PLUGINS.")
        if not self.viewer.can_manage_plugins:
            raise permission_denied(f"You need the MANAGE_PLUGINS permission to {to}.")
        return self.viewer


def invalid_settings(exc: ConfigError) -> LifecycleError:
    return LifecycleError(
        INVALID_CONFIG,
        f"The lifecycle plugin's settings are invalid; fix them in the plugin configuration: {exc}",
        {"fields": dict(exc.errors)},
    )
