"""Messages rendered from Django templates, without the host project's TEMPLATES setting.

The shipped templates live in ``lifecycle_plugin/templates/lifecycle_plugin/`` as
``<action>.subject.txt``, ``<action>.txt`` and ``<action>.html``. The store owner can
replace any of them per action with a Multiline setting (``<action>_subject_template``,
``<action>_text_template``, ``<action>_html_template``; empty means the shipped one).

The engines are those of ``lifecycle_plugin.templating``, apart from Saleor's own
TEMPLATES setting. Plain text and subjects are not HTML-escaped; HTML is.

Languages are template files: ``<action>.<language>.subject.txt``, ``.txt`` and ``.html``
(e.g. ``review_request.de.txt``, ``review_request.pt-br.txt``) in a directory of Django's
``LIFECYCLE_TEMPLATE_DIRS`` setting, an action's own ``template_dirs`` or the package's.
A customer whose language (or its base: ``pt`` for ``pt-br``) has a plain-text file gets
the whole message in it; everyone else gets the default one (the owner's Dashboard
templates, else the shipped files).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.template import Context, Template, TemplateDoesNotExist

from ..templating import PARTS, TEMPLATE_DIR, compile_template, engine

__all__ = ["PARTS", "TEMPLATE_DIR", "RenderedMessage", "compile_template", "render_message", "template_setting_name"]


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str
    #: The language of the templates used; empty for the default ones.
    language: str = ""


def template_setting_name(action: str, part: str) -> str:
    """The setting that overrides one part of an action's message, e.g. ``review_request_html_template``."""
    return f"{action}_{part}_template"


def _language_of(action: str, language: str, template_dirs: tuple[str, ...]) -> str:
    """The first of `language` and its base language with a plain-text template, or ""."""
    code = language.strip().lower().replace("_", "-")
    for candidate in dict.fromkeys([code, code.split("-")[0]]):
        if not candidate or not candidate.replace("-", "").isalnum():
            continue
        try:
            engine(False, template_dirs).get_template(f"lifecycle_plugin/{action}.{candidate}.txt")
        except TemplateDoesNotExist:
            continue
        return candidate
    return ""


def _template(action: str, part: str, override: str, template_dirs: tuple[str, ...],
              language: str = "") -> Template | None:
    suffix, html = PARTS[part]
    if override and override.strip() and not language:
        return engine(html).from_string(override)
    name = f"lifecycle_plugin/{action}.{language + '.' if language else ''}{suffix}"
    try:
        return engine(html, template_dirs).get_template(name)
    except TemplateDoesNotExist:
        if part == "html":  # an HTML version is optional; the plain text is not
            return None
        raise


def render_message(
    action: str,
    data: Mapping[str, Any],
    overrides: Mapping[str, str] | None = None,
    template_dirs: Sequence[str | Path] = (),
    language: str = "",
) -> RenderedMessage:
    """Render an action's subject, plain text and HTML with `data` as the template context.

    :param overrides: template sources by part (``subject``, ``text``, ``html``); empty
        or missing parts use the template file ``lifecycle_plugin/<action>.<suffix>``.
    :param template_dirs: more directories searched before the package's own, so a
        third-party action can ship ``lifecycle_plugin/<its action>.*`` files too.
    :param language: the customer's language; its templates are used when they exist.
    """
    overrides = overrides or {}
    owner_dirs = getattr(django_settings, "LIFECYCLE_TEMPLATE_DIRS", ())
    dirs = tuple(str(d) for d in (*owner_dirs, *template_dirs))
    language = _language_of(action, language, dirs) if language else ""
    data = {**data, "language": language}
    rendered: dict[str, str] = {}
    for part, (_, html) in PARTS.items():
        template = _template(action, part, overrides.get(part, ""), dirs, language)
        # The Context, not the Engine, decides on escaping when a Template is rendered directly.
        rendered[part] = template.render(Context(dict(data), autoescape=html)) if template is not None else ""
    # A subject is one header line: folding whitespace also stops a template (or a
    # customer's name in it) from injecting more headers.
    subject = " ".join(rendered["subject"].split())
    html = rendered["html"] if rendered["html"].strip() else ""
    return RenderedMessage(subject=subject, text=rendered["text"].strip() + "\n", html=html, language=language)
