"""core.streams: the in-process broker, its bounds, and publishing that never fails."""

import json

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from core import streams
from core.redis import available, breaker_for, get_redis, reset_breakers

SETTINGS = {
    "sse.max_streams": 2,
    "sse.max_streams_per_client": 2,
    "sse.channel_prefix": "t",
    "sse.max_seconds": 5.0,
    "sse.keepalive_seconds": 0.05,
}


class Registry(dict):
    """What publish_* read of the application's registry."""


def _broker(redis=None) -> streams.Broker:
    return streams.Broker(redis, SETTINGS)


def test_a_stream_that_falls_behind_loses_messages_not_memory():
    broker = _broker()
    subscription = broker.subscribe("channel_public_p")

    broker.publish_here([("channel_public_p", b"%d" % n) for n in range(streams.QUEUE_SIZE + 50)])

    assert subscription.queue.qsize() == streams.QUEUE_SIZE
    assert subscription.next_message(0.01) == b"0"


def test_messages_reach_only_their_channel_and_a_closed_subscription_is_forgotten():
    broker = _broker()
    mine = broker.subscribe("t:channel_public_7")
    other = broker.subscribe("t:channel_public_8")
    registry = Registry(streams=broker)

    streams.publish_answer(
        registry, {"id": 1, "project_id": 7, "user_ip": "10.1.2.3", "info": {"x": 1}}
    )
    mine.close()
    other.close()

    assert json.loads(mine.next_message(0.01)) == {
        "type": "taskrun",
        "data": {
            "id": 1,
            "project_id": 7,
            "task_id": None,
            "created": None,
            "finish_time": None,
        },
    }
    assert other.next_message(0.01) is None
    assert broker._local == {}


class Broken:
    """A Redis client whose every command fails with an unexpected error."""

    def pipeline(self, transaction=True):
        raise RuntimeError("unexpected")


def test_publishing_never_raises(caplog):
    broker = _broker(redis=Broken())
    broker.redis.__dict__["_crowdnest_breaker"] = breaker_for("redis://broken.invalid:1/0")

    streams.publish_answer(Registry(streams=broker), {"id": 1, "project_id": 7})

    assert "publishing to the streams failed" in caplog.text


def test_a_stream_ends_after_max_seconds_and_gives_its_slot_back():
    broker = _broker()
    assert broker.acquire()
    stream = streams.EventStream(
        broker, broker.subscribe("channel_public_p"), {**SETTINGS, "sse.max_seconds": 0.2}
    )

    chunks = list(stream)

    assert chunks[0].startswith(b"retry: ")
    assert b": keep-alive\n\n" in chunks
    assert broker.open == 0


def test_a_stream_opened_while_redis_was_away_ends_once_it_answers(redis_url):
    reset_breakers()
    client = get_redis(redis_url)
    try:
        client.ping()
    except Exception:
        pytest.skip(f"no Redis at {redis_url}")
    broker = _broker(client)
    assert broker.acquire()
    # Opened while Redis was away: a subscription of this process only.
    local = streams.LocalSubscription(broker, "channel_public_p")
    stream = streams.EventStream(broker, local, {**SETTINGS, "sse.max_seconds": 30})

    chunks = list(stream)  # Redis answers: the stream ends at once, to reconnect through it

    assert len(chunks) == 1
    assert broker.open == 0


class LostRedis:
    """A Redis subscription whose connection drops."""

    through_redis = True
    closed = False

    def next_message(self, timeout):
        raise RedisConnectionError("connection lost")

    def close(self):
        self.closed = True


def test_a_stream_whose_redis_goes_away_ends_and_gives_its_slot_back():
    client = get_redis("redis://127.0.0.1:9/0")
    broker = _broker(client)
    assert broker.acquire()
    subscription = LostRedis()

    chunks = list(streams.EventStream(broker, subscription, SETTINGS))

    assert len(chunks) == 1  # the `retry:` line, then the end: the browser reconnects
    assert subscription.closed and broker.open == 0
    assert not available(client)  # the outage is recorded: the next stream is served locally
    reset_breakers()
