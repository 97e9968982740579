"""The simulated OpenAI-compatible upstream (`routerhub.devtools.simupstream`, served by
`manage.py sim_upstream`): deterministic answers, streaming, failures, replayed responses, and
the deterministic LLM judge."""
import httpx
import openai
import pytest

from feedback.judge import judge_messages, parse_verdict
from routerhub.devtools.simupstream import SimConfig, SimState


def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)


MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}]


def test_answers_the_openai_client_deterministically_with_usage(sim):
    first = client(sim).chat.completions.create(model="gpt-4-1106-preview", messages=MESSAGES)
    again = client(sim).chat.completions.create(model="gpt-4-1106-preview", messages=MESSAGES)
    other = client(sim).chat.completions.create(model="mixtral-8x7b-instruct-v0.1", messages=MESSAGES)
    assert first.choices[0].message.content == again.choices[0].message.content
    assert first.choices[0].message.content.startswith("[gpt-4-1106-preview]")
    assert other.choices[0].message.content != first.choices[0].message.content
    assert first.model == "gpt-4-1106-preview"
    assert first.usage.prompt_tokens > 10 and first.usage.completion_tokens > 10
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens


def test_streams_chunks_that_add_up_to_the_plain_answer(sim):
    plain = client(sim).chat.completions.create(model="weak", messages=MESSAGES)
    stream = client(sim).chat.completions.create(model="weak", messages=MESSAGES, stream=True,
                                                 stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) > 5
    assert text == plain.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens


def test_max_tokens_truncates_with_finish_reason_length(sim):
    answer = client(sim).chat.completions.create(model="weak", messages=MESSAGES, max_tokens=3)
    assert answer.usage.completion_tokens == 3 and answer.choices[0].finish_reason == "length"


def test_a_model_set_to_fail_gets_a_5xx_while_others_answer(sim):
    httpx.post(sim.removesuffix("/v1") + "/_sim/config", json={"fail_models": ["strong"]})
    with pytest.raises(openai.InternalServerError):
        client(sim).chat.completions.create(model="strong", messages=MESSAGES)
    assert client(sim).chat.completions.create(model="weak", messages=MESSAGES).choices[0].message.content


def test_recorded_responses_are_replayed(sim):
    root = sim.removesuffix("/v1")
    httpx.post(root + "/_sim/responses",
               json={"responses": [{"model": "weak", "prompt": "What is 2 + 2?", "text": "4"}]})
    answer = client(sim).chat.completions.create(model="weak", messages=MESSAGES)
    assert answer.choices[0].message.content == "4"


def test_the_simulated_judge_is_deterministic():
    judge = SimState(SimConfig())
    long, short = "A long and detailed answer.", "Short."
    assert parse_verdict(judge.answer("judge", judge_messages(question="q", answer_a=long, answer_b=short))) == "A"
    assert parse_verdict(judge.answer("judge", judge_messages(question="q", answer_a=short, answer_b=long))) == "B"
    assert parse_verdict(judge.answer("judge", judge_messages(question="q", answer_a=short, answer_b=short))) == "C"
    biased = SimState(SimConfig(judge_rule="first"))
    assert parse_verdict(biased.answer("judge", judge_messages(question="q", answer_a=short, answer_b=long))) == "A"
