"""The LLM judge's prompt and verdict rules (`feedback.judge`), as plain Python."""
import pytest

from feedback.judge import VerdictError, combine_verdicts, judge_messages, parse_verdict


def test_the_prompt_is_mt_bench_pairwise():
    messages = judge_messages(question="What is 2+2?", answer_a="4", answer_b="5")
    assert messages[0]["role"] == "system" and "impartial judge" in messages[0]["content"]
    assert '"[[A]]" if assistant A is better' in messages[0]["content"]
    user = messages[1]["content"]
    assert user.index("[User Question]\nWhat is 2+2?") < user.index("[The Start of Assistant A's Answer]\n4\n") \
        < user.index("[The Start of Assistant B's Answer]\n5\n")


@pytest.mark.parametrize("reply, verdict", [
    ("A is clearly better.\n\n[[A]]", "A"),
    ("Both fine. [[C]]", "C"),
    ('Format: "[[A]]" if A is better... My verdict: [[B]]', "B"),  # the last one counts
])
def test_parse_verdict(reply, verdict):
    assert parse_verdict(reply) == verdict


def test_a_reply_without_a_verdict_is_an_error():
    with pytest.raises(VerdictError):
        parse_verdict("I cannot decide.")


def test_both_orders_must_agree_or_it_is_a_tie():
    # first ask: the duel's a shown as A; second ask: swapped, so the duel's a is B
    assert combine_verdicts("A", "B").winner == "model_a" and combine_verdicts("A", "B").consistent
    assert combine_verdicts("B", "A").winner == "model_b"
    assert combine_verdicts("C", "C").winner == "tie"
    biased = combine_verdicts("A", "A")  # always the first position: the bias cancels out
    assert biased.winner == "tie" and not biased.consistent
    assert combine_verdicts("A", "C").winner == "tie"
    with pytest.raises(ValueError):
        combine_verdicts("A", "D")
