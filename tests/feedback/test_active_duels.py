"""Active duel selection through the real gateway (the official `openai` client, Postgres, the
shipped MiniLM): a prompt no duel covers yet is duelled, a repeat of a duelled one is not, and a
selector rebuilt for a new router version reads what the tenant's duels already cover."""
from __future__ import annotations

import numpy as np
import pytest

from feedback import duels
from feedback.models import Duel
from routerhub.embeddings.services import embeddings_for_texts
from tests.support.gateway import EASY, HARD, ask_router

pytestmark = pytest.mark.django_db(transaction=True)


def test_active_duels_go_to_prompts_no_duel_covers_and_survive_a_rebuild(gateway, mf_version):
    tenant = gateway.tenant
    tenant.duel_rate, tenant.duel_selection = 0.3, "active"
    tenant.save()
    duels._selectors.clear()
    warmup = [ask_router(gateway, EASY[i % len(EASY)]) for i in range(56)]  # uniform until 50 distances are known
    duelled_easy = {Duel.objects.get(request_id=r).request.routed_prompt for r in warmup
                    if Duel.objects.filter(request_id=r).exists()}
    assert duelled_easy  # at 0.3 over 56 requests some were duelled
    hard, repeats = [], []
    for i, prompt in enumerate(HARD):
        hard.append(ask_router(gateway, prompt))
        repeats.append(ask_router(gateway, sorted(duelled_easy)[i % len(duelled_easy)]))
    # every new kind of prompt got its duel (chance 1); a repeat of a duelled prompt none
    assert all(Duel.objects.filter(request_id=r, probability=1.0).exists() for r in hard)
    assert not Duel.objects.filter(request_id__in=repeats).exists()

    duels._selectors.clear()  # as after a new router version: the selector is rebuilt from the database
    rebuilt = duels.duel_selector(tenant, mf_version.pk)
    covered, fresh = embeddings_for_texts([HARD[0], "Write a haiku about autumn leaves in Kyoto."])
    assert rebuilt.distance(covered) < 1e-3 and rebuilt.distance(fresh) > 0.2
    assert len(rebuilt._covered) == Duel.objects.filter(tenant=tenant).count()
    assert np.allclose(np.linalg.norm(rebuilt._covered, axis=1), 1.0, atol=1e-3)
