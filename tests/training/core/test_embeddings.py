"""The embedders (`training.core.embeddings`): MiniLM on ONNX and torch, an OpenAI-compatible server,
the micro-batcher. The cache in front of them: tests/embeddings/test_services.py."""
import numpy as np
import pytest

from training.core.embeddings import MiniLMEmbedder, OpenAIEmbedder, minilm_center

TEXTS = ["Hi", "What is the capital of France?",
         "Explain, step by step, how a binary search tree keeps itself balanced after many insertions. " * 6, ""]


@pytest.fixture(scope="module")
def onnx_embedder(tmp_path_factory):
    return MiniLMEmbedder(runtime="onnx", cache_dir=tmp_path_factory.mktemp("models"))


def test_minilm_gives_unit_384_vectors_and_similar_texts_are_close(onnx_embedder):
    vectors = onnx_embedder.embed(["How do I bake bread?", "What is a good bread recipe?", "Rust borrow checker"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > 0.6 > vectors[0] @ vectors[2]


@pytest.mark.slow
def test_onnx_export_matches_the_torch_model_across_lengths_and_padding(onnx_embedder):
    torch_vectors = MiniLMEmbedder(runtime="torch").embed(TEXTS)
    onnx_vectors = onnx_embedder.embed(TEXTS, batch_size=4)  # one padded batch of mixed lengths
    one_by_one = np.vstack([onnx_embedder.embed([t]) for t in TEXTS])
    np.testing.assert_allclose((torch_vectors * onnx_vectors).sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(onnx_vectors, one_by_one, atol=1e-5)


def test_int8_gives_a_text_the_same_vector_whatever_its_batch_and_close_to_fp32(onnx_embedder, tmp_path):
    """Dynamic int8 quantization scales activations over the whole batch; the embedder runs one text
    per call so that the caches, keyed by text, stay right (a batch's neighbours once moved a
    vector to cosine 0.986 of itself)."""
    int8 = MiniLMEmbedder(runtime="onnx", quantize=True, cache_dir=tmp_path)
    assert int8.name == "all-minilm-l6-v2-int8pc-tail" != onnx_embedder.name
    batched = int8.embed(TEXTS, batch_size=4)
    alone = np.vstack([int8.embed([t]) for t in TEXTS])
    np.testing.assert_array_equal(batched, alone)
    assert ((batched * onnx_embedder.embed(TEXTS)).sum(axis=1) > 0.97).all()  # the same model, rounded


def test_openai_backend_over_http_against_an_openai_compatible_server(sim):
    embedder = OpenAIEmbedder(model="text-embedding-3-small", dim=384, base_url=sim, api_key="test")
    vectors = embedder.embed(["one", "two", "one"], batch_size=2)
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)
    host = sim.split("//", 1)[1].split("/", 1)[0]
    assert embedder.name == f"openai:text-embedding-3-small:384@{host}"  # its own cache space
    assert OpenAIEmbedder(model="text-embedding-3-small").name == "openai:text-embedding-3-small:384"


def test_unknown_runtime_is_refused():
    with pytest.raises(ValueError, match="unknown runtime"):
        MiniLMEmbedder(runtime="tensorflow")


@pytest.mark.parametrize("layers", [0, 7])
def test_a_depth_outside_the_model_is_refused(layers):
    with pytest.raises(ValueError, match="layers must be 1 to 6"):
        MiniLMEmbedder(layers=layers)


def test_the_first_layers_only_make_their_own_space_of_unit_vectors_that_keep_the_similarities(onnx_embedder,
                                                                                           tmp_path):
    """`layers=2`: the first two transformer layers, then the same pooling, exported to a file of its
    own, then centred. Its vectors are another space (another cache name, not the full model's
    vectors), still unit vectors where similar texts are close; int8 keeps a text's vector
    independent of its batch."""
    shallow = MiniLMEmbedder(runtime="onnx", layers=2, cache_dir=tmp_path)
    assert shallow.name == "all-minilm-l6-v2-L2c-tail"
    texts = ["How do I bake bread?", "What is a good bread recipe?", "Rust borrow checker"]
    vectors = shallow.embed(texts)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    full = onnx_embedder.embed(texts)
    assert ((vectors * full).sum(axis=1) < 0.99).all()  # not the full model's vectors
    files = list(tmp_path.glob("*.onnx"))
    assert len(files) == 1 and files[0].name.endswith("-L2.onnx")
    int8 = MiniLMEmbedder(runtime="onnx", quantize=True, layers=2, cache_dir=tmp_path)
    assert int8.name == "all-minilm-l6-v2-L2c-int8pc-tail"
    np.testing.assert_array_equal(int8.embed(TEXTS, batch_size=4), np.vstack([int8.embed([t]) for t in TEXTS]))


def test_a_shallow_depth_is_centred_so_that_unrelated_texts_are_no_longer_alike(tmp_path):
    """Two layers alone put every text near one common direction; the shipped centre takes it out:
    unrelated texts' cosine falls (less for short texts like these than for the long prompts the
    centre was averaged over: 0.50 to 0.00 there) and related ones stand out more. `center=False`
    is the raw space (another name); the full model has no centre."""
    texts = ["How do I bake bread?", "What is a good bread recipe?", "Rust borrow checker",
             "Who won the 1998 football world cup?", "Prove that the square root of 2 is irrational."]
    raw = MiniLMEmbedder(runtime="onnx", layers=2, center=False, cache_dir=tmp_path)
    centred = MiniLMEmbedder(runtime="onnx", layers=2, cache_dir=tmp_path)
    assert raw.name == "all-minilm-l6-v2-L2-tail" and raw.center is None
    unrelated = ~np.eye(len(texts), dtype=bool)
    unrelated[0, 1] = unrelated[1, 0] = False  # the two bread questions are related
    raw_sims, centred_sims = (v @ v.T for v in (raw.embed(texts), centred.embed(texts)))
    assert raw_sims[unrelated].mean() > 0.45  # measured 0.50, against 0.03 with all six layers
    assert centred_sims[unrelated].mean() < raw_sims[unrelated].mean() - 0.1  # measured 0.35
    # the related pair stands further out from the rest
    assert centred_sims[0, 1] - centred_sims[unrelated].mean() > raw_sims[0, 1] - raw_sims[unrelated].mean()
    assert np.argsort(-centred_sims[0])[1] == 1  # bread's nearest other text is still bread
    vectors = centred.embed(texts)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert MiniLMEmbedder(runtime="onnx", cache_dir=tmp_path).center is None
    with pytest.raises(ValueError, match="no centre for 6 layers"):
        minilm_center(6)


def test_micro_batcher_embeds_concurrent_texts_together_and_returns_each_its_row(onnx_embedder):
    import threading

    from training.core.embeddings import MicroBatcher

    texts = [f"question number {i}: how do rivers form {'deltas' if i % 2 else 'canyons'}?" for i in range(24)]
    expected = onnx_embedder.embed(texts)
    batcher = MicroBatcher(onnx_embedder.embed, max_batch=8)
    results = {}
    gate = threading.Barrier(len(texts))

    def call(i):
        gate.wait()
        results[i] = batcher(texts[i])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert np.abs(np.stack([results[i] for i in range(len(texts))]) - expected).max() < 1e-5
    assert batcher.texts == len(texts) and batcher.batches < len(texts)  # some calls were shared
    assert np.abs(batcher("alone") - onnx_embedder.embed(["alone"])[0]).max() < 1e-5
