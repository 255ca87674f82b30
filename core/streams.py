"""Server-sent event streams of a project's answers: what is published, and how it travels.

Two channels per project, named as PYBOSSA names them: `channel_public_<short_name>`, for
anyone who may read the project, and `channel_private_<short_name>`, for its owners and admins
(docs/streams.md lists the events). A message is PYBOSSA's `{"type": ..., "data": ...}` JSON,
serialised once when published. `publish_answer` and `publish_completion` are the one rule of
what each channel gets; both task-run paths (core.api.taskrun and the lean core.delivery) call
them after their commit.

With Redis the messages go through Redis pub/sub, so that an answer stored by one worker
reaches a stream held by another; each stream subscribes on a connection of its own. Without
Redis (or while it is unreachable: core.redis's breaker) they are fanned out in the process, to
a bounded queue per stream (a stream that falls behind loses messages rather than memory). A
stream opened in the process while Redis was away ends once Redis answers again, so that its
browser reconnects to the shared channel.

Publishing never fails nor delays an answer beyond one Redis round trip: errors are logged, and
with `sse.enabled` off nothing is published (no broker exists).
"""

import functools
import hashlib
import hmac
import logging
import queue
import threading
import time

import orjson
from redis.exceptions import TimeoutError as RedisTimeout

from core.redis import UNREACHABLE, available, either, failed, script

log = logging.getLogger(__name__)

PUBLIC, PRIVATE = "public", "private"
# A task run as anyone who may read the project sees it: no author, address, answer or file.
PUBLIC_RUN_FIELDS = ("id", "project_id", "task_id", "created", "finish_time")
# Messages a stream of this process keeps waiting before it drops newer ones.
QUEUE_SIZE = 256
# Longest wait for one message: how soon a stream notices its end, its keep-alive or Redis back.
TICK = 1.0
# What the browser waits before reconnecting, milliseconds (the `retry:` field).
RETRY_MS = 1000
# Each message ARGV[i] published on the channel KEYS[i], in one round trip.
PUBLISH_ALL = """
for i, name in ipairs(KEYS) do
    redis.call('PUBLISH', name, ARGV[i])
end
return #KEYS
"""


def site_prefix(settings) -> str:
    """What the site's channels start with: `sse.channel_prefix`, else a digest of the session
    secret (equal on every host of one site, different between sites). Redis pub/sub channels
    are server-wide, whatever the database number: two sites on one Redis must not hear each
    other."""
    if settings["sse.channel_prefix"]:
        return settings["sse.channel_prefix"]
    secret = settings["session.secret"].encode()
    return hmac.new(secret, b"crowdnest streams", hashlib.sha256).hexdigest()[:16]


def channel(prefix: str, kind: str, project_id: int) -> str:
    """The Redis channel of a project's public or private stream. PYBOSSA names them after the
    short name, but a short name changes hands (a rename, a deletion): a stream open on the old
    name would hear the next project's events. The id never does."""
    return f"{prefix}:channel_{kind}_{project_id}"


def _message(kind: str, data: dict) -> bytes:
    return orjson.dumps({"type": kind, "data": data}, default=str)


def _never_raises(publish):
    """A publication's errors are logged: the answer and the hooks after it go on."""

    @functools.wraps(publish)
    def guarded(*args):
        try:
            publish(*args)
        except Exception:
            log.exception("publishing to the streams failed")

    return guarded


@_never_raises
def publish_answer(registry, run: dict) -> None:
    """After the commit of a new task run (`run`: as the owner's API shows it): its public
    fields on the public channel, all of it on the private one."""
    broker = registry.get("streams")
    if broker is None:
        return
    public = {key: run.get(key) for key in PUBLIC_RUN_FIELDS}
    broker.publish(
        [
            (broker.channel(PUBLIC, run["project_id"]), _message("taskrun", public)),
            (broker.channel(PRIVATE, run["project_id"]), _message("taskrun", run)),
        ]
    )


@_never_raises
def publish_completion(registry, payload: dict, result: dict) -> None:
    """After the commit that completed a task: the webhook payload (ids and time only) on both
    channels, the new result (as the owner's API shows it) on the private one."""
    broker = registry.get("streams")
    if broker is None:
        return
    project_id = payload["project_id"]
    completed = _message("task_completed", payload)
    broker.publish(
        [
            (broker.channel(PUBLIC, project_id), completed),
            (broker.channel(PRIVATE, project_id), completed),
            (broker.channel(PRIVATE, project_id), _message("result", result)),
        ]
    )


class LocalSubscription:
    """A stream's queue of the messages published in this process on its channel."""

    through_redis = False

    def __init__(self, broker: "Broker", name: str):
        self.broker, self.channel = broker, name
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)

    def next_message(self, timeout: float) -> bytes | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.broker._forget(self)


class RedisSubscription:
    """A stream's subscription to its Redis channel, on a connection of its own."""

    through_redis = True

    def __init__(self, client, name: str):
        self.pubsub = client.pubsub()
        try:
            self.pubsub.subscribe(name)
            # Subscribed once Redis confirms it: a message published from now on is received.
            confirmation = self.pubsub.get_message(timeout=TICK)
            if confirmation is None or confirmation["type"] != "subscribe":
                raise RedisTimeout("no confirmation of the subscription")
        except BaseException:
            self.pubsub.close()
            raise

    def next_message(self, timeout: float) -> bytes | None:
        found = self.pubsub.get_message(timeout=timeout)
        if found is None or found["type"] != "message":
            return None
        return found["data"]

    def close(self) -> None:
        self.pubsub.close()


class Broker:
    """Publishes to and subscribes streams of this process to project channels, and counts the
    streams it holds: at most `sse.max_streams`, and `sse.max_streams_per_client` of one
    client (an account, else an address), so that one caller cannot take them all."""

    def __init__(self, redis, settings):
        self.redis = redis
        self.max_streams = settings["sse.max_streams"]
        self.max_per_client = settings["sse.max_streams_per_client"]
        self.prefix = site_prefix(settings)
        self._lock = threading.Lock()
        self._local: dict[str, set[LocalSubscription]] = {}
        self.open = 0
        self._of_client: dict[str, int] = {}

    def channel(self, kind: str, project_id: int) -> str:
        """This site's channel of a project's public or private stream."""
        return channel(self.prefix, kind, project_id)

    def acquire(self, client: str = "") -> bool:
        """Take a stream slot for `client`; False when the process or the client holds enough."""
        with self._lock:
            held = self._of_client.get(client, 0)
            if self.open >= self.max_streams or held >= self.max_per_client:
                return False
            self.open += 1
            self._of_client[client] = held + 1
            return True

    def release(self, client: str = "") -> None:
        with self._lock:
            self.open -= 1
            held = self._of_client.pop(client, 1) - 1
            if held > 0:
                self._of_client[client] = held

    def publish(self, messages: list[tuple[str, bytes]]) -> None:
        """Each (channel, message): through Redis in one round trip, or in the process."""
        either(
            self.redis,
            lambda client: self._through_redis(client, messages),
            lambda: self.publish_here(messages),
        )

    def _through_redis(self, client, messages) -> None:
        # One call on the thread's own connection (core.redis.script): redis-py's command path
        # cost four times the round trip itself here.
        script(client, PUBLISH_ALL)(
            keys=[name for name, _ in messages], args=[message for _, message in messages]
        )

    def publish_here(self, messages: list[tuple[str, bytes]]) -> None:
        """Each (channel, message) to this process's streams of that channel."""
        with self._lock:
            targets = [(self._local.get(name, ()), message) for name, message in messages]
            targets = [(list(subscriptions), message) for subscriptions, message in targets]
        for subscriptions, message in targets:
            for subscription in subscriptions:
                try:
                    subscription.queue.put_nowait(message)
                except queue.Full:
                    pass  # a stream that does not keep up loses what it could not take

    def subscribe(self, name: str):
        """A subscription to the channel `name`: Redis's when it answers, else this process's."""

        def here():
            subscription = LocalSubscription(self, name)
            with self._lock:
                self._local.setdefault(name, set()).add(subscription)
            return subscription

        return either(self.redis, lambda client: RedisSubscription(client, name), here)

    def _forget(self, subscription: LocalSubscription) -> None:
        with self._lock:
            found = self._local.get(subscription.channel)
            if found is not None:
                found.discard(subscription)
                if not found:
                    del self._local[subscription.channel]

    def back_to_redis(self, subscription) -> bool:
        """Whether a stream of this process only should end: Redis, configured, answers again."""
        return not subscription.through_redis and available(self.redis)


class EventStream:
    """The body of an event-stream response (a WSGI app_iter): `retry:`, then each message as
    an event and a keep-alive comment when quiet, until `sse.max_seconds` have passed, the
    subscription fails, or the client goes away (close)."""

    def __init__(self, broker: Broker, subscription, settings, client: str = ""):
        self.broker, self.subscription, self.client = broker, subscription, client
        self.max_seconds = settings["sse.max_seconds"]
        self.keepalive = settings["sse.keepalive_seconds"]
        self.closed = False

    def __iter__(self):
        started = last_sent = time.monotonic()
        yield f"retry: {RETRY_MS}\n: open\n\n".encode()
        try:
            while True:
                now = time.monotonic()
                if now - started >= self.max_seconds or self.broker.back_to_redis(
                    self.subscription
                ):
                    return
                if now - last_sent >= self.keepalive:
                    last_sent = now
                    yield b": keep-alive\n\n"
                    continue
                wait = min(
                    TICK, self.max_seconds - (now - started), self.keepalive - (now - last_sent)
                )
                message = self.subscription.next_message(max(wait, 0.0))
                if message is not None:
                    last_sent = time.monotonic()
                    yield b"data: " + message + b"\n\n"
        except UNREACHABLE as error:  # the browser reconnects, to whatever then answers
            failed(self.broker.redis, error)
        finally:
            self.close()

    def close(self) -> None:
        """End the stream: its subscription and its slot (once, whether iterated or not)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.subscription.close()
        except Exception:
            log.exception("closing a stream's subscription failed")
        self.broker.release(self.client)


def includeme(config):
    settings = config.get_settings()
    broker = Broker(config.registry["redis"], settings) if settings["sse.enabled"] else None
    config.registry["streams"] = broker
