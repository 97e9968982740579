import numpy as np
import pytest
from django.conf import settings
from django.db import connection
from pgvector.django import CosineDistance

from routerhub.gateway.models import RoutedRequest


def unit(vector) -> list[float]:
    vector = np.asarray(vector, dtype=np.float32)
    return (vector / np.linalg.norm(vector)).tolist()


@pytest.mark.django_db
def test_vector_extension_is_installed_by_migrations():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    assert row is not None and row[0].startswith("0.")


@pytest.mark.django_db
def test_routed_request_embedding_is_found_by_cosine_nearest_neighbour(tenant):
    dim = settings.ROUTERHUB_EMBEDDING_DIM
    rng = np.random.default_rng(0)
    stored = {name: unit(rng.normal(size=dim)) for name in ("alpha", "beta", "gamma")}
    for name, vector in stored.items():
        RoutedRequest.objects.create(tenant=tenant, routed_prompt=name, embedding=vector)
    query = unit(np.asarray(stored["beta"]) + 0.05 * rng.normal(size=dim))

    nearest = RoutedRequest.objects.order_by(CosineDistance("embedding", query)).first()

    assert nearest.routed_prompt == "beta"
    assert len(nearest.embedding) == dim


@pytest.mark.django_db
def test_preference_prompts_have_an_hnsw_cosine_index_and_the_request_log_none():
    """SW searches the preference store's prompts; nothing searches the request log by similarity,
    so it keeps its embeddings without paying an index insert per request."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'prefprompt_embedding_hnsw'")
        (indexdef,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'gateway_routedrequest' "
                       "AND indexdef ILIKE '%hnsw%'")
        (request_log_hnsw,) = cursor.fetchone()
    assert "hnsw" in indexdef and "vector_cosine_ops" in indexdef
    assert request_log_hnsw == 0
