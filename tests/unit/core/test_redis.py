"""core.redis.script: Lua scripts over a connection of the thread's own, kept open."""

import os
import threading
import uuid

import pytest
from redis.exceptions import ResponseError

from core.redis import script

COUNTER = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


def test_a_script_runs_with_keys_and_arguments(redis_client):
    key = f"test:{uuid.uuid4()}"
    add = script(redis_client, COUNTER)

    assert [add(keys=[key], args=[2]), add(keys=[key], args=[3])] == [2, 5]
    assert script(redis_client, COUNTER) is add


def test_the_connection_is_kept_between_calls(redis_client):
    add = script(redis_client, COUNTER)
    add(keys=[f"test:{uuid.uuid4()}"], args=[1])
    opened = add.line.connection

    add(keys=[f"test:{uuid.uuid4()}"], args=[1])

    assert add.line.connection is opened and opened._sock is not None


def test_a_dropped_connection_is_opened_again(redis_client):
    key = f"test:{uuid.uuid4()}"
    add = script(redis_client, COUNTER)
    add(keys=[key], args=[1])
    # Redis closes the connection, as a restart or an idle timeout would.
    redis_client.client_kill_filter(_id=add.line.call("CLIENT", "ID"))

    assert add(keys=[key], args=[1]) == 2


def test_scripts_flushed_from_redis_are_loaded_again(redis_client):
    key = f"test:{uuid.uuid4()}"
    add = script(redis_client, COUNTER)
    add(keys=[key], args=[1])
    redis_client.script_flush()

    assert add(keys=[key], args=[1]) == 2


def test_errors_of_the_script_are_raised(redis_client):
    failing = script(redis_client, "return redis.error_reply('no such thing')")

    with pytest.raises(ResponseError, match="no such thing"):
        failing()


def test_each_thread_has_its_own_connection(redis_client):
    add = script(redis_client, COUNTER)
    add(keys=[f"test:{uuid.uuid4()}"], args=[1])
    seen = []

    def other():
        add(keys=[f"test:{uuid.uuid4()}"], args=[1])
        seen.append(add.line.connection)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()

    assert seen[0] is not None and seen[0] is not add.line.connection


def test_a_forked_child_opens_its_own_connection(redis_client):
    key = f"test:{uuid.uuid4()}"
    add = script(redis_client, COUNTER)
    add(keys=[key], args=[1])
    parent = add.line.connection
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one call, its answer and whether it kept the parent's socket
        try:
            value = add(keys=[key], args=[1])
            os.write(write, f"{value} {add.line.connection is parent}".encode())
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 100).decode()
    os.waitpid(pid, 0)

    assert answer == "2 False"
    assert add(keys=[key], args=[1]) == 3  # the parent's connection still works


def test_arguments_arrive_as_redis_py_sends_them(redis_client):
    echo = "return ARGV"
    arguments = ["text", "ünïcode", b"\x00bytes", 12345678901234, -3, 0.1, 1e20]
    through_line = script(redis_client, echo)(keys=[], args=arguments)

    assert through_line == redis_client.eval(echo, 0, *arguments)
    assert through_line[1] == "ünïcode".encode() and through_line[5] == b"0.1"
