"""Fixtures for the GraphQL tests: a small store on the in-memory host, decided by the engine."""

from __future__ import annotations

import base64
from datetime import datetime

import pytest
from django.contrib.auth.models import Permission, User

from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.graphql.execution import execute_graphql
from lifecycle_plugin.graphql.viewer import Viewer
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.rules import LifecycleConfig

from lifecycle_plugin.testing import Clock, MemoryHost

from ..conftest import CLOCK_START

T0 = CLOCK_START  # where the `clock` fixture starts


def global_id(pk: int) -> str:
    return base64.b64encode(f"User:{pk}".encode()).decode()


class Store:
    """A shop on the in-memory host whose customers the engine has decided."""

    def __init__(self, host: MemoryHost, clock: Clock, config: LifecycleConfig | None = None):
        self.host = host
        self.clock = clock
        pm = make_plugin_manager(builtins=[], load_entry_points=False)
        self.engine = LifecycleEngine(host, config or LifecycleConfig(), plugin_manager=pm, clock=clock)

    def engine_factory(self) -> LifecycleEngine:
        return self.engine

    def account(self, email: str, *, staff: bool = False, manage_users: bool = False) -> User:
        user = User.objects.create(username=email, email=email, is_staff=staff)
        if manage_users:
            user.user_permissions.add(Permission.objects.get(codename="change_user", content_type__app_label="auth"))
        self.host.register(email, user.pk, self.clock.now)
        return user

    def order(self, email: str, total: str = "50", currency: str = "USD", at: datetime | None = None) -> None:
        self.host.order(email, at or self.clock.now, total=total, currency=currency)

    def process(self, email: str) -> None:
        facts = self.host.customers[email]
        self.engine.process(CustomerRef(email, facts.user_id), event="test")

    def process_all(self) -> None:
        for email in sorted(self.host.customers):
            self.process(email)

    def run(self, query: str, viewer: Viewer, **variables) -> dict:
        return execute_graphql({"query": query, "variables": variables}, viewer, engine_factory=self.engine_factory)


@pytest.fixture
def store(clock) -> Store:
    return Store(MemoryHost(), clock)


@pytest.fixture
def ann(store) -> User:
    """A registered customer: first order now, second after 30 days (a repeat customer in silver)."""
    user = store.account("ann@example.com")
    store.order("ann@example.com", total="300")
    store.process("ann@example.com")
    store.clock.advance(days=30)
    store.order("ann@example.com", total="250", currency="USD")
    store.order("ann@example.com", total="80", currency="EUR")
    store.process("ann@example.com")
    return user


@pytest.fixture
def bob(store) -> User:
    """Another registered customer with one order."""
    user = store.account("bob@example.com")
    store.order("bob@example.com", total="20")
    store.process("bob@example.com")
    return user


@pytest.fixture
def admin(store) -> User:
    return store.account("admin@example.com", staff=True, manage_users=True)


@pytest.fixture
def clerk(store) -> User:
    """Staff without MANAGE_USERS."""
    return store.account("clerk@example.com", staff=True)


def customer_viewer(user: User) -> Viewer:
    return Viewer.customer(user.pk, user.email)


def staff_viewer(user: User) -> Viewer:
    return Viewer.staff(user.pk, user.email, can_manage_users=user.has_perm("auth.change_user"))


def codes(response: dict) -> list[str]:
    return [error["extensions"]["code"] for error in response.get("errors", [])]


def deliver_through(store: Store, channel: str) -> None:
    """Give the store's engine the built-in delivery channels (the fixture's has none) and pick one."""
    import importlib

    name = "lifecycle_plugin.actions.delivery"
    store.engine.pm.register(importlib.import_module(name), name=name)
    store.engine.settings["delivery_channel"] = channel
