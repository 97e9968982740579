"""The causal-LLM classifier router's pure part (`training.core.routers.causal_llm`): RouteLLM's
prompts, reading the five ratings' log-probabilities from an answer, RouteLLM's P(strong wins),
and scoring through an injected call. Over HTTP against the simulated upstream, through the
gateway, with its fallback: tests/gateway/test_causal_llm.py."""
import math

import numpy as np
import pytest

from training.core.routers.causal_llm import (
    CausalLLMRouter,
    NoRating,
    classifier_messages,
    rating_logprobs,
    strong_win_rate,
)


def answer(*positions):
    """An OpenAI logprobs content: (token, {candidate: logprob}) per generated position."""
    return [{"token": token, "logprob": top.get(token, -0.1),
             "top_logprobs": [{"token": t, "logprob": lp} for t, lp in top.items()]} for token, top in positions]


def test_the_prompt_is_routellms():
    system, user = classifier_messages("What is 2 + 2?")
    assert system["role"] == "system" and system["content"].startswith("[Instruction]\nBased on the question")
    assert '"[[predicted rating]]"' in system["content"] and "- **1-2**:" in system["content"]
    assert user == {"role": "user", "content": "[Question]\nWhat is 2 + 2?\n\nPrediction:\n"}


def test_ratings_are_read_from_special_tokens_or_digits_after_brackets():
    special = answer(("[[4]]", {"[[4]]": math.log(0.6), "[[5]]": math.log(0.3), "[[3]]": math.log(0.1)}))
    np.testing.assert_allclose(np.exp(rating_logprobs(special)), [0, 0, 0.1, 0.6, 0.3], atol=1e-12)
    split = answer(("[[", {"[[": -0.01}), ("2", {"2": math.log(0.7), "1": math.log(0.2), "3": math.log(0.1)}),
                   ("]]", {"]]": -0.01}))
    np.testing.assert_allclose(np.exp(rating_logprobs(split)), [0.2, 0.7, 0.1, 0, 0], atol=1e-12)
    with pytest.raises(NoRating):
        rating_logprobs(answer(("I", {"I": -0.1}), ("think", {"think": -0.2})))


def test_p_strong_wins_is_one_minus_the_mass_of_ratings_4_and_5():
    logprobs = np.log([0.1, 0.1, 0.2, 0.4, 0.2])
    assert strong_win_rate(logprobs) == pytest.approx(0.4)
    assert strong_win_rate(logprobs, score_threshold=3) == pytest.approx(0.2)
    assert strong_win_rate(np.array([-np.inf, -np.inf, -np.inf, 0.0, -np.inf])) == pytest.approx(0.0)


def test_the_router_scores_through_the_call_it_is_given():
    asked = []

    def complete(messages):
        asked.append(messages[1]["content"])
        hard = "prove" in messages[1]["content"]
        return answer(("[[2]]" if hard else "[[5]]",
                       {"[[2]]": math.log(0.8 if hard else 0.1), "[[5]]": math.log(0.2 if hard else 0.9)}))

    router = CausalLLMRouter(endpoint="classifier").attach(complete)
    win = router.predict_win_rate(None, strong="big", weak="small", texts=["prove it", "hi"])
    np.testing.assert_allclose(win, [0.8, 0.1], atol=1e-9)
    assert len(asked) == 2 and router.knows("any-model")
    assert router.route(None, ["big", "mid", "small"], 0.5, text="prove it").index == 0  # the strongest
    assert router.route(None, ["big", "mid", "small"], 0.5, text="hi").index == 2  # the cheapest
    with pytest.raises(RuntimeError, match="attach"):
        CausalLLMRouter().predict_ratings(None, ["a", "b"], texts=["x"])
