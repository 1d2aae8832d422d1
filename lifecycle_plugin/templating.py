"""The Django template engines the plugin renders messages with, apart from the host project's.

Saleor's own TEMPLATES setting is for its pages; standalone ``django.template.Engine``
instances with only this package's directory keep our mails independent of it. A
leaf module (Django's template package only), so that both the settings (which check
an owner's template compiles) and the actions (which render) can use it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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
