"""The Django template engines the plugin renders messages with, apart from the host project's.

Saleor's own TEMPLATES setting is for its pages; standalone ``django.template.Engine``
instances with only this package's directory keep our mails independent of it. A
leaf module (Django's template package only), so that both the settings (which check
an owner's template compiles) and the actions (which render) can use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.template import Engine, Template

#: The package's own template directory (``templates/lifecycle_plugin/<action>.*`` inside it).
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

#: Tag libraries an owner's template may ``{% load %}``; the built-in tags and filters are always there.
LIBRARIES = {
    "i18n": "django.templatetags.i18n",
    "l10n": "django.templatetags.l10n",
    "tz": "django.templatetags.tz",
}

#: The three parts of a message: file suffix, and whether the part is HTML (escaped).
PARTS: dict[str, tuple[str, bool]] = {
    "subject": ("subject.txt", False),
    "text": ("txt", False),
    "html": ("html", True),
}


@lru_cache(maxsize=16)
def engine(html: bool, extra_dirs: tuple[str, ...] = ()) -> Engine:
    return Engine(
        dirs=[*extra_dirs, str(TEMPLATE_DIR)],
        autoescape=html,
        libraries=LIBRARIES,
        string_if_invalid="",
    )


def compile_template(source: str, part: str) -> Template:
    """Compile an owner's template for one part; raises TemplateSyntaxError when it is broken."""
    _, html = PARTS[part]
    return engine(html).from_string(source)


def variables_used(template: Template) -> tuple[set[str], set[str]]:
    """The variables `template` reads (dotted, as written) and the names it defines itself
    (``{% for x in ... %}``, ``{% with x=... %}``, ``forloop``)."""
    from django.template.base import FilterExpression, Node, Variable

    used: set[str] = set()
    defined: set[str] = {"forloop"}

    def expression(value: Any) -> None:
        if isinstance(value, FilterExpression):
            expression(value.var)
            for _, arguments in value.filters:
                for _, argument in arguments:
                    expression(argument)
        elif isinstance(value, Variable):
            if value.lookups:  # None for literals ("text", 3)
                used.add(value.var)
        elif isinstance(value, (list, tuple)):
            for item in value:
                expression(item)
        elif isinstance(value, dict):
            defined.update(value)
            for item in value.values():
                expression(item)
        elif isinstance(value, Node):
            node(value)
        elif hasattr(value, "first") or hasattr(value, "value"):  # an {% if %} condition
            for part in ("value", "first", "second"):
                expression(getattr(value, part, None))

    def node(current: Node) -> None:
        defined.update(getattr(current, "loopvars", ()))
        for name, value in vars(current).items():
            if name not in ("token", "origin", "loopvars"):
                expression(value)

    for top in template.nodelist:
        node(top)
    return used, defined


def unknown_variables(source: str, part: str, known: Mapping[str, Iterable[str] | None]) -> list[str]:
    """The variables of an owner's template that no message provides, as written.

    `known` maps each top-level variable to its attributes (None: any attribute, e.g.
    the products of a loop). Raises TemplateSyntaxError when the template is broken.
    """
    used, defined = variables_used(compile_template(source, part))
    unknown = []
    for name in sorted(used):
        root, _, attribute = name.partition(".")
        if root in defined:
            continue
        if root not in known:
            unknown.append(name)
        elif attribute and known[root] is not None and attribute.split(".")[0] not in known[root]:
            unknown.append(name)
    return unknown
