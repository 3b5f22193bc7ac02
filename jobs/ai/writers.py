"""Who writes the three emails: OpenAI (any OpenAI-compatible server) or, without a key, the template writer.

The template writer is a development backend, like Django's console email backend: it lets `make run` work
offline, its output is plainly generic, and every sequence it writes records the model `template`.
The OpenAI client's own retries are off (`max_retries=0`): the step retries under the shared policy are the only
ones, so a rate limit is never retried twice over.
"""

from __future__ import annotations

import html
import logging
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any, Protocol

import openai
from django.conf import settings
from openai.lib._parsing._completions import type_to_response_format_param
from pydantic import ValidationError

from jobs.policy import TransientJobError

from .prompts import category_focus
from .schema import GeneratedEmail, GeneratedSequence

logger = logging.getLogger(__name__)

TEMPLATE_MODEL = "template"


class MalformedAIOutput(TransientJobError):
    """The AI answered, but not with three well-formed emails; another attempt may do better."""


@dataclass(frozen=True)
class Generation:
    emails: list[dict[str, str]]
    model: str
    prompt_tokens: int
    completion_tokens: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class SequenceWriter(Protocol):
    def write(self, prompt: dict[str, Any]) -> Generation: ...


class OpenAIWriter:
    """Structured output parsed into `GeneratedSequence`; errors are left for the policy to classify.

    The request is `chat.completions.create` with the strict JSON schema built once, and the answer is validated
    here: what the client's `parse` does, less rebuilding the schema from the model on every call (about 2 ms of
    CPU per call, 11% of the web workers' CPU went to `parse` under bench/scale.py). The schema comes from the
    client library's own helper (the one `parse` calls), so it stays what OpenAI's strict mode expects.
    """

    def __init__(self, *, api_key: str, base_url: str | None, model: str, timeout: float) -> None:
        self.model = model
        self.client = openai.OpenAI(api_key=api_key, base_url=base_url or None, timeout=timeout, max_retries=0)

    def write(self, prompt: dict[str, Any]) -> Generation:
        completion = self.client.chat.completions.create(
            model=self.model,
            messages=[
                {"role": "system", "content": prompt["system"]},
                {"role": "user", "content": prompt["user"]},
            ],
            response_format=_response_format(),
        )
        choice = completion.choices[0] if completion.choices else None
        message = choice.message if choice else None
        if choice is not None and choice.finish_reason == "length":
            raise MalformedAIOutput("AI output was cut off at the length limit")
        if message is None or message.refusal:
            refusal = message.refusal if message else "no choices"
            raise MalformedAIOutput(f"AI gave no sequence: {refusal}")
        if not message.content:
            raise MalformedAIOutput("AI answered without structured content")
        try:
            parsed = GeneratedSequence.model_validate_json(message.content)
        except ValidationError as error:
            # The content was not JSON, or not three complete emails: malformed, retried within the policy.
            raise MalformedAIOutput(f"AI output did not match the three-email schema: {_short(error)}") from error
        usage = completion.usage
        return Generation(
            emails=[email.model_dump() for email in parsed.emails],
            model=completion.model or self.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )


@cache
def _response_format() -> Any:
    return type_to_response_format_param(GeneratedSequence)


class TemplateWriter:
    """Offline development backend: fills a fixed three-email outline from the category's focus line."""

    def write(self, prompt: dict[str, Any]) -> Generation:
        first_name = prompt["first_name"]
        agency = prompt["agency_name"]
        sign_off = prompt["sign_off"]
        focus = category_focus(prompt["category"]).rstrip(".")
        outlines = [
            (
                f"{first_name}, a quick hello from {agency}",
                f"How we can help with {focus}.",
                [
                    f"Hello {first_name},",
                    f"Thank you for getting in touch with {agency}. We would love to help you with {focus}.",
                    "Reply to this email whenever suits you and we will take it from there.",
                ],
            ),
            (
                f"{first_name}, what happens next",
                "A short guide to the next steps, at your pace.",
                [
                    f"Hello {first_name},",
                    f"Following on from our last email, here is how {agency} approaches {focus}: we listen "
                    "first, explain every step in plain English and keep you updated.",
                    "If you have any questions, just reply.",
                ],
            ),
            (
                f"Still here when you need us, {first_name}",
                "No pressure: we are here when the time is right.",
                [
                    f"Hello {first_name},",
                    f"Whenever you are ready, {agency} is here to help with {focus}.",
                    "Reply to book a call at a time that suits you.",
                ],
            ),
        ]
        emails = []
        for subject, preview, paragraphs in outlines:
            paragraphs = [*paragraphs, sign_off]
            emails.append(
                GeneratedEmail(
                    subject=subject,
                    preview_text=preview,
                    body_html="".join(f"<p>{html.escape(paragraph)}</p>" for paragraph in paragraphs),
                    body_text="\n\n".join(paragraphs),
                ).model_dump()
            )
        return Generation(emails=emails, model=TEMPLATE_MODEL, prompt_tokens=0, completion_tokens=0)


def writer_from_settings() -> SequenceWriter:
    """OpenAI when OPENAI_API_KEY is set (unless AI_WRITER=template); otherwise the clearly labelled template writer."""
    return _writer(
        "" if settings.AI_WRITER == "template" else settings.OPENAI_API_KEY,
        settings.OPENAI_BASE_URL,
        settings.OPENAI_MODEL,
        float(settings.OPENAI_TIMEOUT),
    )


@cache
def _writer(api_key: str, base_url: str, model: str, timeout: float) -> SequenceWriter:
    # One client per configuration, so its connection pool is reused across steps.
    if not api_key:
        logger.warning("OPENAI_API_KEY is not set: sequences are written by the template writer (model 'template')")
        return TemplateWriter()
    return OpenAIWriter(api_key=api_key, base_url=base_url or None, model=model, timeout=timeout)


def _short(error: Exception) -> str:
    return str(error).replace("\n", " ")[:300]
