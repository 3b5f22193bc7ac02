"""The shape the AI must answer in (OpenAI structured output): exactly three emails, each fully written."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class GeneratedEmail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Annotated[Text, StringConstraints(max_length=200)] = Field(description="Subject line, under 70 chars.")
    preview_text: Annotated[Text, StringConstraints(max_length=300)] = Field(
        description="Inbox preview text shown after the subject, under 140 chars."
    )
    body_html: Text = Field(description="The email body as simple HTML: <p>, <a>, <strong>, <ul>/<li> only.")
    body_text: Text = Field(description="The same email as plain text.")


class GeneratedSequence(BaseModel):
    """Three emails in send order; a different count is malformed output, retried by the policy."""

    model_config = ConfigDict(extra="forbid")

    emails: Annotated[list[GeneratedEmail], Field(min_length=3, max_length=3)]
