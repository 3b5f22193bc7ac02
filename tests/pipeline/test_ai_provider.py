"""Prompt templates (one file per category) and the AI writers' contract with the policy."""

from __future__ import annotations

import inngest
import pytest
from django.utils import timezone

from jobs.ai.prompts import PROMPTS_DIR, build_prompt, category_focus
from jobs.ai.writers import MalformedAIOutput, OpenAIWriter, TemplateWriter, writer_from_settings
from jobs.policy import FunctionCategory, retry_decision
from tenants.models import Category
from tests.fakes.openai_server import Scripted

VOICE = {"text": "Straight-talking and local.", "tone": "friendly", "vocabulary": ["home"], "sign_off": "Sam"}


def test_there_is_one_prompt_template_file_per_category():
    files = {path.stem for path in PROMPTS_DIR.glob("*.txt")} - {"system", "user"}
    assert files == set(Category.values)
    assert len(files) == 12


@pytest.mark.parametrize("category", Category.values)
def test_every_category_prompt_has_its_brief_the_voice_the_name_and_uk_conventions(category):
    prompt = build_prompt(category=category, agency_name="Harbour Homes", brand_voice=VOICE, first_name="Ada")

    brief = (PROMPTS_DIR / f"{category}.txt").read_text().strip()
    assert brief in prompt["user"]
    assert 'first name "Ada"' in prompt["user"]
    assert "Straight-talking and local." in prompt["system"]
    assert "Harbour Homes" in prompt["system"]
    assert "British English" in prompt["system"] and "£" in prompt["system"]
    assert category_focus(category) and not category_focus(category).startswith("Focus:")
    assert "$" not in prompt["system"] + prompt["user"]  # every placeholder was filled


def test_a_prompt_is_stable_for_the_same_input():
    first = build_prompt(category="seller", agency_name="A", brand_voice=VOICE, first_name="Ada")
    again = build_prompt(category="seller", agency_name="A", brand_voice=VOICE, first_name="Ada")
    other = build_prompt(category="seller", agency_name="A", brand_voice=VOICE, first_name="Bo")
    assert first["digest"] == again["digest"] != other["digest"]


def test_an_unknown_category_is_refused():
    with pytest.raises(ValueError, match="is not a valid Category"):
        build_prompt(category="realtor", agency_name="A", brand_voice=VOICE, first_name="Ada")


def test_without_a_key_the_template_writer_is_used(settings):
    settings.OPENAI_API_KEY = ""
    assert isinstance(writer_from_settings(), TemplateWriter)


def test_the_openai_client_never_retries_on_its_own(settings, openai_server):
    writer = writer_from_settings()
    assert isinstance(writer, OpenAIWriter)
    assert writer.client.max_retries == 0
    openai_server.then(Scripted("server_error"))

    with pytest.raises(Exception, match="server had an error"):
        writer.write(build_prompt(category="buyer", agency_name="A", brand_voice=VOICE, first_name="Ada"))
    assert len(openai_server.requests) == 1


def test_a_refusal_is_malformed_output(openai_server):
    openai_server.then(Scripted("refusal"))
    with pytest.raises(MalformedAIOutput, match="no sequence"):
        writer_from_settings().write(
            build_prompt(category="buyer", agency_name="A", brand_voice=VOICE, first_name="Ada")
        )


def test_an_answer_cut_off_at_the_length_limit_is_malformed_output(openai_server):
    openai_server.then(Scripted("length"))
    with pytest.raises(MalformedAIOutput, match="cut off at the length limit"):
        writer_from_settings().write(
            build_prompt(category="buyer", agency_name="A", brand_voice=VOICE, first_name="Ada")
        )


def test_the_request_asks_for_the_three_email_schema_strictly(openai_server):
    writer_from_settings().write(build_prompt(category="buyer", agency_name="A", brand_voice=VOICE, first_name="Ada"))
    response_format = openai_server.requests[-1]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert schema["properties"]["emails"]["minItems"] == schema["properties"]["emails"]["maxItems"] == 3
    assert schema["additionalProperties"] is False


def test_unknown_errors_are_left_to_inngest_and_known_ones_are_translated():
    assert isinstance(retry_decision(FunctionCategory.AI, attempt=0, error=KeyError("x")), KeyError)
    decision = retry_decision(FunctionCategory.AI, attempt=2, error=MalformedAIOutput("bad"))
    assert isinstance(decision, inngest.RetryAfterError)
    assert (decision.retry_after - timezone.now()).total_seconds() == pytest.approx(40, abs=1)  # 10 x 2^2
