"""Messages rendered from Django templates, without the host project's TEMPLATES setting.

The shipped templates live in ``lifecycle_plugin/templates/lifecycle_plugin/`` as
``<action>.subject.txt``, ``<action>.txt`` and ``<action>.html``. The store owner can
replace any of them per action with a Multiline setting (``<action>_subject_template``,
``<action>_text_template``, ``<action>_html_template``; empty means the shipped one).

Saleor's own TEMPLATES setting is for its pages; rendering through standalone
``django.template.Engine`` instances with only this package's directory keeps our
mails independent of it. Plain text and subjects are not HTML-escaped; HTML is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.template import Context, Engine, Template, TemplateDoesNotExist

#: The package's own template directory (``templates/lifecycle_plugin/<action>.*`` inside it).
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"

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


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str


def template_setting_name(action: str, part: str) -> str:
    """The setting that overrides one part of an action's message, e.g. ``review_request_html_template``."""
    return f"{action}_{part}_template"


@lru_cache(maxsize=16)
def _engine(html: bool, extra_dirs: tuple[str, ...] = ()) -> Engine:
    return Engine(
        dirs=[*extra_dirs, str(TEMPLATE_DIR)],
        autoescape=html,
        libraries=LIBRARIES,
        string_if_invalid="",
    )


def compile_template(source: str, part: str) -> Template:
    """Compile an owner's template for one part; raises TemplateSyntaxError when it is broken."""
    _, html = PARTS[part]
    return _engine(html).from_string(source)


def _template(action: str, part: str, override: str, template_dirs: tuple[str, ...]) -> Template | None:
    suffix, html = PARTS[part]
    if override and override.strip():
        return _engine(html).from_string(override)
    engine = _engine(html, template_dirs)
    name = f"lifecycle_plugin/{action}.{suffix}"
    try:
        return engine.get_template(name)
    except TemplateDoesNotExist:
        if part == "html":  # an HTML version is optional; the plain text is not
            return None
        raise


def render_message(
    action: str,
    data: Mapping[str, Any],
    overrides: Mapping[str, str] | None = None,
    template_dirs: Sequence[str | Path] = (),
) -> RenderedMessage:
    """Render an action's subject, plain text and HTML with `data` as the template context.

    :param overrides: template sources by part (``subject``, ``text``, ``html``); empty
        or missing parts use the template file ``lifecycle_plugin/<action>.<suffix>``.
    :param template_dirs: more directories searched before the package's own, so a
        third-party action can ship ``lifecycle_plugin/<its action>.*`` files too.
    """
    overrides = overrides or {}
    dirs = tuple(str(d) for d in template_dirs)
    rendered: dict[str, str] = {}
    for part, (_, html) in PARTS.items():
        template = _template(action, part, overrides.get(part, ""), dirs)
        # The Context, not the Engine, decides on escaping when a Template is rendered directly.
        rendered[part] = template.render(Context(dict(data), autoescape=html)) if template is not None else ""
    # A subject is one header line: folding whitespace also stops a template (or a
    # customer's name in it) from injecting more headers.
    subject = " ".join(rendered["subject"].split())
    html = rendered["html"] if rendered["html"].strip() else ""
    return RenderedMessage(subject=subject, text=rendered["text"].strip() + "\n", html=html)
