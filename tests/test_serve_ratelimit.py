"""The rate limiter's decisions on the event loop: Redis through limits.aio (a round trip never
blocks the loop, and the count stays exact under concurrent decisions); memory storage
decided without suspending."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

pytest.importorskip("limits", reason="the serve extra is not installed")

from pipeward.serve.policy import Limits  # noqa: E402
from pipeward.serve.ratelimit import RateLimiter  # noqa: E402
from serve_helpers import redis_server, redis_server_path  # noqa: E402

needs_redis = pytest.mark.skipif(redis_server_path() is None, reason="redis-server is not installed "
                                 "(apt-get install redis-server; .ci/run does)")


def test_memory_decisions_never_suspend_the_coroutine():
    limiter = RateLimiter(Limits(per_key="3/minute", per_address="100/minute", soft_fraction=1.0))
    assert not limiter.asynchronous
    allowed = []
    for _ in range(5):
        coro = limiter.check_key("k")
        with pytest.raises(StopIteration) as done:  # finished at the first step: no await inside
            coro.send(None)
        allowed.append(done.value.value.allowed)
    assert allowed == [True, True, True, False, False]


@needs_redis
def test_redis_decisions_are_async_and_exact_under_concurrency(tmp_path):
    with redis_server(tmp_path) as uri:
        limiter = RateLimiter(Limits(per_key="25/hour", per_address="", storage=uri, daily_budget=40))
        assert limiter.asynchronous

        async def go():
            keys = await asyncio.gather(*(limiter.check_key("k") for _ in range(60)))
            budget = [await limiter.check_budget("k", 7) for _ in range(7)]
            await limiter.aclose()
            return keys, budget

        keys, budget = asyncio.run(go())
    assert sum(d.allowed for d in keys) == 25
    assert all(1 <= d.retry_after <= 3600 and d.reason == "key rate limit" for d in keys if not d.allowed)
    assert [d.allowed for d in budget] == [True] * 5 + [False] * 2  # 35 <= 40 < 42 rows


@needs_redis
def test_a_stalled_redis_does_not_block_the_event_loop(tmp_path):
    import redis

    with redis_server(tmp_path) as uri:
        pid = int(redis.Redis.from_url(uri).info()["process_id"])
        limiter = RateLimiter(Limits(per_key="10/minute", per_address="10/minute", storage=uri))

        async def go():
            assert (await limiter.check_address("127.0.0.1")).allowed  # connected
            os.kill(pid, signal.SIGSTOP)
            try:
                decision = asyncio.ensure_future(limiter.check_key("k"))
                ticks = 0
                for _ in range(20):  # the loop keeps running while the decision waits on Redis
                    await asyncio.sleep(0.01)
                    ticks += 1
                waiting = not decision.done()
            finally:
                os.kill(pid, signal.SIGCONT)
            result = await decision
            await limiter.aclose()
            return ticks, waiting, result

        ticks, waiting, decision = asyncio.run(go())
    assert ticks == 20 and waiting and decision.allowed
