"""Prompt construction: the shared system prompt (brand voice, UK conventions) plus one template per category.

Templates are text files in `prompts/` (`system.txt`, `user.txt` and one `<category>.txt` per category, whose
first line `Focus: ...` also feeds the template writer), read with `string.Template`, so a copywriter can edit
them without touching code.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from tenants.categories import Category

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
FOCUS_PREFIX = "Focus:"


class PromptTemplateMissing(LookupError):
    """A category has no prompt template file."""


@cache
def _read(name: str) -> str:
    path = PROMPTS_DIR / f"{name}.txt"
    if not path.is_file():
        raise PromptTemplateMissing(f"no prompt template {path.name} in {PROMPTS_DIR}")
    return path.read_text(encoding="utf-8").strip()


def category_brief(category: str) -> str:
    """The category-specific part of the prompt (the whole `<category>.txt`)."""
    return _read(Category(category).value)


def category_focus(category: str) -> str:
    """The one-line focus of a category, e.g. 'getting the best result from selling their home.'"""
    first_line = category_brief(category).splitlines()[0]
    return first_line.removeprefix(FOCUS_PREFIX).strip() if first_line.startswith(FOCUS_PREFIX) else first_line


def build_prompt(
    *,
    category: str,
    agency_name: str,
    brand_voice: dict[str, Any],
    first_name: str,
    contact_context: list[str] | None = None,
) -> dict[str, Any]:
    """The system and user messages for one sequence, as JSON-able data (memoized as a step output)."""
    category = Category(category)
    vocabulary = ", ".join(str(word) for word in brand_voice.get("vocabulary") or []) or "(none given)"
    system = Template(_read("system")).substitute(
        agency_name=agency_name,
        brand_voice=(brand_voice.get("text") or "").strip() or "(not given: write warmly and professionally)",
        brand_tone=brand_voice.get("tone") or "(not given)",
        brand_vocabulary=vocabulary,
        brand_sign_off=brand_voice.get("sign_off") or f"The {agency_name} team",
    )
    context_lines = [f"- {line}" for line in contact_context or []]
    user = Template(_read("user")).substitute(
        category_label=category.label,
        category_brief=category_brief(category),
        first_name=first_name,
        contact_context="What we know about them:\n" + "\n".join(context_lines) if context_lines else "",
    )
    digest = hashlib.sha256(f"{system}\n{user}".encode()).hexdigest()[:16]
    return {
        "category": category.value,
        "first_name": first_name,
        "agency_name": agency_name,
        "sign_off": brand_voice.get("sign_off") or f"The {agency_name} team",
        "system": system,
        "user": user,
        "digest": digest,
    }
