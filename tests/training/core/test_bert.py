"""The BERT-classifier router (`training.core.routers.bert`): the shipped MiniLM with a rating
head, fine-tuned on CPU on battles' texts; it learns which prompts the strong model wins, scores
through the same contract, and its artifact (the trained layers and the head) restores it."""
import numpy as np
import pytest

from tests.support.gateway import EASY, HARD
from training.core.routers import Battles, BertRouter, UnknownModel
from training.core.routers.base import Router


def _battles(texts=True) -> Battles:
    prompts = HARD[:6] + EASY[:6]
    strong_wins = [1.0] * 6 + [0.0] * 6
    n = len(prompts)
    battles = Battles.from_records(np.zeros((n, 1)), np.tile(np.arange(n), 3), ["strong-model"] * 3 * n,
                                   ["weak-model"] * 3 * n, np.tile(strong_wins, 3))
    battles.prompt_texts = prompts if texts else None
    return battles


@pytest.fixture(scope="module")
def bert():
    steps = []
    router = BertRouter(trainable_layers=1, epochs=6, batch_prompts=6, lr=1e-4, head_lr=2e-2, max_length=64)
    router.fit(_battles(), progress=lambda fraction, message: steps.append((fraction, message)))
    assert steps and steps[-1][0] == 1.0 and "loss" in steps[-1][1]
    return router


def test_it_learns_which_prompts_the_strong_model_wins(bert):
    unseen = [HARD[6], HARD[7], EASY[6], EASY[7]]
    win = bert.predict_win_rate(None, strong="strong-model", weak="weak-model", texts=unseen)
    assert win[:2].min() > 0.5 > win[2:].max(), win


def test_its_artifact_restores_the_same_router(bert):
    restored = Router.from_bytes(bert.to_bytes())
    texts = [HARD[0], EASY[0]]
    np.testing.assert_allclose(restored.predict_ratings(None, ["strong-model", "weak-model"], texts=texts),
                               bert.predict_ratings(None, ["strong-model", "weak-model"], texts=texts), atol=2e-2)
    assert len(bert.to_bytes()) < 5_000_000  # one layer and the head, float16


def test_unknown_models_and_missing_texts_are_refused(bert):
    with pytest.raises(UnknownModel):
        bert.predict_ratings(None, ["gpt-9", "weak-model"], texts=["hi"])
    with pytest.raises(ValueError, match="texts"):
        BertRouter(epochs=1).fit(_battles(texts=False))
