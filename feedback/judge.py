"""The LLM judge's prompt and verdicts. Plain Python: no Django, no network.

The prompt is MT-Bench's pairwise judge prompt ("pair-v2", Zheng et al. 2023, FastChat
`llm_judge/data/judge_prompts.jsonl`): the judge explains, then ends with [[A]], [[B]] or [[C]]
(tie). LLM judges favour a position, so a duel is judged twice, the second time with the answers
swapped; the label is the verdict both orders agree on, and a tie when they disagree (MT-Bench's
"conservative" rule).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

SYSTEM_PROMPT = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants "
    "to the user question displayed below. You should choose the assistant that follows the user's instructions "
    "and answers the user's question better. Your evaluation should consider factors such as the helpfulness, "
    "relevance, accuracy, depth, creativity, and level of detail of their responses. Begin your evaluation by "
    "comparing the two responses and provide a short explanation. Avoid any position biases and ensure that the "
    "order in which the responses were presented does not influence your decision. Do not allow the length of "
    "the responses to influence your evaluation. Do not favor certain names of the assistants. Be as objective "
    "as possible. After providing your explanation, output your final verdict by strictly following this format: "
    '"[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and "[[C]]" for a tie.'
)

USER_TEMPLATE = (
    "[User Question]\n{question}\n\n"
    "[The Start of Assistant A's Answer]\n{answer_a}\n[The End of Assistant A's Answer]\n\n"
    "[The Start of Assistant B's Answer]\n{answer_b}\n[The End of Assistant B's Answer]"
)

_VERDICT = re.compile(r"\[\[([ABC])\]\]")


class VerdictError(ValueError):
    """The judge's reply holds no verdict."""


def judge_messages(*, question: str, answer_a: str, answer_b: str) -> list[dict]:
    """The chat messages asking the judge to compare answer A with answer B."""
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": USER_TEMPLATE.format(question=question, answer_a=answer_a,
                                                             answer_b=answer_b)}]


def parse_verdict(reply: str) -> str:
    """'A', 'B' or 'C' (tie): the last [[X]] in the reply (the judge may quote the format first)."""
    found = _VERDICT.findall(reply or "")
    if not found:
        raise VerdictError(f"no [[A]], [[B]] or [[C]] in the judge's reply: {reply[:200]!r}")
    return found[-1]


@dataclass(frozen=True)
class Judgement:
    winner: str  # "model_a" | "model_b" | "tie", in the duel's own order
    first: str  # verdict with the duel's answer a shown as A
    second: str  # verdict with the answers swapped (the duel's answer a shown as B)

    @property
    def consistent(self) -> bool:
        return _as_winner(self.first, swapped=False) == _as_winner(self.second, swapped=True)


def _as_winner(verdict: str, *, swapped: bool) -> str:
    if verdict == "C":
        return "tie"
    a_won = (verdict == "A") != swapped
    return "model_a" if a_won else "model_b"


def combine_verdicts(first: str, second: str) -> Judgement:
    """The label from both orders: what they agree on, else a tie (position bias cancelled)."""
    for verdict in (first, second):
        if verdict not in ("A", "B", "C"):
            raise ValueError(f"a verdict is 'A', 'B' or 'C', not {verdict!r}")
    one, two = _as_winner(first, swapped=False), _as_winner(second, swapped=True)
    return Judgement(winner=one if one == two else "tie", first=first, second=second)
