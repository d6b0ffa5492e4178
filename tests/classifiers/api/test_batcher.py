"""The micro-batcher merges concurrent requests, keeps order, isolates failures and cancellations."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from classifiers.api.batcher import MicroBatcher
from curator.exceptions import DocumentError


class _SlowModel:
    def __init__(self, delay: float = 0.03, fail_on: str | None = None) -> None:
        self.delay = delay
        self.fail_on = fail_on
        self.calls: list[list[str]] = []

    async def predict(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        await asyncio.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in texts:
            raise ValueError("boom")
        return np.array([float(t) for t in texts], dtype=np.float32)


def _run(coro):
    return asyncio.run(coro)


def test_concurrent_requests_are_merged_and_split_back_in_order():
    async def main():
        model = _SlowModel()
        sizes = []
        b = MicroBatcher(model.predict, max_docs=1000, max_inflight=1, on_batch=sizes.append)
        b.start()
        reqs = [[str(i * 10 + j) for j in range(3)] for i in range(12)]
        outs = await asyncio.gather(*(b.submit(r) for r in reqs))
        await b.stop()
        return model, sizes, reqs, outs

    model, sizes, reqs, outs = _run(main())
    for r, o in zip(reqs, outs):
        assert o.tolist() == [float(x) for x in r]
    assert len(model.calls) < len(reqs)  # merged: 12 requests, fewer model calls
    assert sum(sizes) == 36


def test_max_docs_caps_a_merged_call():
    async def main():
        model = _SlowModel(delay=0.01)
        b = MicroBatcher(model.predict, max_docs=4, max_inflight=1)
        b.start()
        await asyncio.gather(*(b.submit(["1", "2"]) for _ in range(6)))
        await b.stop()
        return model

    model = _run(main())
    assert max(len(c) for c in model.calls) <= 4


def test_max_wait_gathers_requests_that_arrive_later():
    async def main():
        model = _SlowModel(delay=0.0)
        b = MicroBatcher(model.predict, max_docs=100, max_wait_s=0.2, max_inflight=1)
        b.start()

        async def late(i):
            await asyncio.sleep(0.02 * i)
            return await b.submit([str(i)])

        await asyncio.gather(*(late(i) for i in range(4)))
        await b.stop()
        return model

    model = _run(main())
    assert len(model.calls) == 1 and sorted(model.calls[0]) == ["0", "1", "2", "3"]


def test_a_failing_call_fails_its_requests_only_and_the_batcher_goes_on():
    async def main():
        model = _SlowModel(fail_on="13")
        b = MicroBatcher(model.predict, max_docs=1, max_inflight=1)  # max_docs=1: one request per call
        b.start()
        res = await asyncio.gather(b.submit(["13"]), b.submit(["2"]), return_exceptions=True)
        after = await b.submit(["7"])
        await b.stop()
        return res, after

    res, after = _run(main())
    assert isinstance(res[0], DocumentError) and res[0].index == 0 and res[1].tolist() == [2.0]
    assert after.tolist() == [7.0]


def test_a_bad_document_in_a_merged_call_fails_only_its_own_request_naming_its_index():
    """Issue 28 item 2: innocent requests merged with a bad one used to get its error (503) too."""

    async def main():
        model = _SlowModel(fail_on="13")
        b = MicroBatcher(model.predict, max_docs=1000, max_inflight=1)
        b.start()
        blocker = asyncio.ensure_future(b.submit(["0"]))  # occupies the slot so the next ones merge
        await asyncio.sleep(0.005)
        reqs = [["1", "2"], ["3", "4", "5", "13", "6"], ["7"], ["8", "9"]]
        res = await asyncio.gather(*(b.submit(r) for r in reqs), return_exceptions=True)
        await blocker
        await b.stop()
        return model, reqs, res

    model, reqs, res = _run(main())
    assert any(len(c) == 10 for c in model.calls)  # the four requests were merged into one call
    assert isinstance(res[1], DocumentError) and res[1].index == 3 and "document 3" in str(res[1])
    for r, out in zip(reqs, res):
        if r is not reqs[1]:
            assert out.tolist() == [float(t) for t in r]


def test_cancelled_request_is_dropped_and_others_answered():
    async def main():
        model = _SlowModel(delay=0.05)
        b = MicroBatcher(model.predict, max_docs=1000, max_inflight=1)
        b.start()
        first = asyncio.ensure_future(b.submit(["1"]))
        await asyncio.sleep(0.01)  # first call is running
        gone = asyncio.ensure_future(b.submit(["2"]))
        kept = asyncio.ensure_future(b.submit(["3"]))
        await asyncio.sleep(0)
        gone.cancel()
        out = await asyncio.gather(first, kept)
        await b.stop()
        with pytest.raises(asyncio.CancelledError):
            gone.result()
        return model, out

    model, out = _run(main())
    assert [o.tolist() for o in out] == [[1.0], [3.0]]
    assert model.calls == [["1"], ["3"]]


def test_stop_fails_queued_requests():
    async def main():
        model = _SlowModel(delay=0.2)
        b = MicroBatcher(model.predict, max_docs=1, max_inflight=1)
        b.start()
        running = asyncio.ensure_future(b.submit(["1"]))
        await asyncio.sleep(0.01)
        queued = asyncio.ensure_future(b.submit(["2"]))
        await asyncio.sleep(0.01)
        await b.stop()
        return await asyncio.gather(running, queued, return_exceptions=True)

    res = _run(main())
    assert isinstance(res[1], RuntimeError)


def test_process_scorer_answers_in_order_survives_its_child_and_reports_load_errors(tmp_path):
    import os
    import signal

    from classifiers import load_classifier
    from classifiers.api.batcher import ProcessScorer

    texts = ["Photosynthesis converts light energy into chemical energy in plants.", "buy now!!! cheap deals", ""] * 40
    bare = np.asarray(load_classifier("default").predict(texts), dtype=np.float32)

    async def scenario() -> None:
        scorer = ProcessScorer({"m": "default"})
        await scorer.start()
        try:
            assert scorer.alive()
            # several calls in flight at once come back to their own callers
            outs = await asyncio.gather(*(scorer.predict("m", texts[i : i + 7]) for i in range(0, len(texts), 7)))
            np.testing.assert_allclose(np.concatenate(outs), bare, rtol=1e-6)
            os.kill(scorer._proc.pid, signal.SIGKILL)
            for _ in range(100):  # the event loop notices the closed socket
                if not scorer.alive():
                    break
                await asyncio.sleep(0.05)
            assert not scorer.alive()
            for _ in range(200):  # issue 28 item 6: a new child is started without waiting for a request (/readyz)
                if scorer.alive():
                    break
                await asyncio.sleep(0.05)
            assert scorer.alive()
            again = await scorer.predict("m", texts[:5])
            np.testing.assert_allclose(again, bare[:5], rtol=1e-6)
            assert scorer.alive()
        finally:
            await scorer.aclose()
        assert not scorer.alive()

        broken = ProcessScorer({"m": str(tmp_path / "no-such-model")})
        with pytest.raises(RuntimeError, match="cannot load the models"):
            await broken.start()
        await broken.aclose()

    _run(scenario())
