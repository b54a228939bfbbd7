"""One client's bad values never fail its batch neighbours, and the error says whose fault it
is: tritonclient against the demo text encoder, whose requests are merged by the batcher."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from support.server import ServerProcess
from tritonclient.utils import InferenceServerException

MODEL = "text_encoder"
VOCAB = 1000
GOOD_CLIENTS, GOOD_EACH, BAD_EACH = 6, 40, 40


def _inputs(module: Any, ids: np.ndarray) -> list[Any]:
    inputs = [module.InferInput("input_ids", list(ids.shape), "INT64"),
              module.InferInput("attention_mask", list(ids.shape), "INT64")]
    inputs[0].set_data_from_numpy(ids)
    inputs[1].set_data_from_numpy(np.ones_like(ids))
    return inputs


def _stats(client: httpclient.InferenceServerClient) -> tuple[int, int, int, int]:
    (row,) = client.get_inference_statistics(MODEL)["model_stats"]
    s = row["inference_stats"]
    return (s["success"]["count"], s["fail"]["count"], row["inference_count"],
            row["execution_count"])


def test_bad_client_among_good_ones(demo_server: ServerProcess) -> None:
    """Six clients send valid token ids while a seventh sends one out of the vocabulary, all
    at once: every good request succeeds, every bad one gets 400 naming the model and
    input_ids, batches did merge, and statistics count each failure once."""
    http = httpclient.InferenceServerClient(demo_server.http_url)
    # one good request first: until a model has computed once, a failure cannot be told
    # from a broken model and is the server's (500); this test is about neighbours
    http.infer(MODEL, _inputs(httpclient, np.ones((1, 12), dtype=np.int64)))
    before = _stats(http)
    good_failures: list[str] = []
    bad_errors: list[InferenceServerException] = []
    start = threading.Barrier(GOOD_CLIENTS + 1)

    def good(seed: int) -> None:
        client = httpclient.InferenceServerClient(demo_server.http_url)
        rng = np.random.default_rng(seed)
        start.wait()
        for _ in range(GOOD_EACH):
            ids = rng.integers(0, VOCAB, size=(1, 12), dtype=np.int64)
            try:
                client.infer(MODEL, _inputs(httpclient, ids))
            except InferenceServerException as exc:
                good_failures.append(str(exc))

    def bad() -> None:
        client = httpclient.InferenceServerClient(demo_server.http_url)
        ids = np.full((1, 12), 5, dtype=np.int64)
        ids[0, 7] = VOCAB + 50_000
        start.wait()
        for _ in range(BAD_EACH):
            try:
                client.infer(MODEL, _inputs(httpclient, ids))
            except InferenceServerException as exc:
                bad_errors.append(exc)

    with ThreadPoolExecutor(GOOD_CLIENTS + 1) as pool:
        futures = [pool.submit(good, i) for i in range(GOOD_CLIENTS)] + [pool.submit(bad)]
        for f in futures:
            f.result(timeout=240)

    assert good_failures == []
    assert len(bad_errors) == BAD_EACH
    assert {e.status() for e in bad_errors} == {"400"}
    text = str(bad_errors[0])
    assert "model 'text_encoder' cannot compute this request: input 'input_ids' [1, 12]" in text
    assert "out of" in text and ".cc:" not in text
    success, fail, inferences, executions = (a - b for a, b in zip(_stats(http), before,
                                                                     strict=True))
    assert (success, fail) == (GOOD_CLIENTS * GOOD_EACH, BAD_EACH)
    assert inferences == GOOD_CLIENTS * GOOD_EACH
    # merged batches happened (else this test proves nothing about neighbours)
    assert executions < inferences


def test_bad_values_over_grpc_are_invalid_argument(demo_server: ServerProcess) -> None:
    """The same request over gRPC is INVALID_ARGUMENT with the same first sentence."""
    client = grpcclient.InferenceServerClient(demo_server.grpc_url)
    ids = np.array([[1, 2, VOCAB + 7]], dtype=np.int64)
    try:
        client.infer(MODEL, _inputs(grpcclient, ids))
    except InferenceServerException as exc:
        assert exc.status() == "StatusCode.INVALID_ARGUMENT"
        assert "model 'text_encoder' cannot compute this request: input 'input_ids'" in str(exc)
    else:
        raise AssertionError("an out-of-vocabulary id was accepted")
