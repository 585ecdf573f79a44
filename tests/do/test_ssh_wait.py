"""module_utils/_ssh_wait.py: hosts waited on at once with one deadline, each failure classified, against servers
on loopback (an SSH banner, a silent port, a non-SSH answer, a closed port) and OpenSSH's own messages."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._ssh_wait import (
    SshSpec,
    classify_ssh,
    failure_message,
    probe,
    ssh_argv,
    wait_all,
)


class Server:
    """A TCP server on 127.0.0.1 that answers each connection with ``greeting`` (None: says nothing)."""

    def __init__(self, greeting: bytes | None) -> None:
        self.greeting = greeting
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn = self.sock.accept()[0]
            except OSError:
                continue
            if self.greeting is None:
                self.held.append(conn)
                continue
            try:
                conn.sendall(self.greeting)
            finally:
                conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture
def servers() -> Iterator[dict[str, Server]]:
    made = {"ssh": Server(b"SSH-2.0-OpenSSH_9.6 fake\r\n"), "silent": Server(None), "http": Server(b"HTTP/1.0 400\r\n")}
    yield made
    for server in made.values():
        server.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_probe_tells_refused_silent_and_foreign_from_ssh(servers: dict[str, Server]) -> None:
    assert probe("127.0.0.1", servers["ssh"].port, 2) == (None, "SSH-2.0-OpenSSH_9.6 fake")
    assert probe("127.0.0.1", closed_port(), 2)[0] == "refused"
    reason, detail = probe("127.0.0.1", servers["silent"].port, 0.5)
    assert reason == "no_banner" and "no SSH banner within 0.5 s" in detail
    reason, detail = probe("127.0.0.1", servers["http"].port, 2)
    assert reason == "no_banner" and "'HTTP/1.0 400', not an SSH banner" in detail


@pytest.mark.parametrize("rc,stderr,reason", [
    (255, "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
          "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
          "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
          "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n"
          "Host key for 203.0.113.9 has changed and you have requested strict checking.\n"
          "Host key verification failed.\n", "host_key_mismatch"),
    (255, "No ED25519 host key is known for 203.0.113.9 and you have requested strict checking.\n"
          "Host key verification failed.\n", "host_key_mismatch"),
    (255, "root@203.0.113.9: Permission denied (publickey).\n", "auth_refused"),
    (255, "ssh: connect to host 203.0.113.9 port 22: Connection refused\n", "refused"),
    (255, "ssh: connect to host 203.0.113.9 port 22: Connection timed out\n", "timed_out"),
    (255, "ssh: connect to host 203.0.113.9 port 22: No route to host\n", "unreachable"),
    (255, "kex_exchange_identification: Connection closed by remote host\n", "ssh_error"),
    (1, "status: error\n", "command_failed"),
    (3, "", "command_failed")])
def test_ssh_failures_are_named(rc: int, stderr: str, reason: str) -> None:
    assert classify_ssh(rc, stderr)[0] == reason


def test_host_key_detail_is_openssh_s_own_words() -> None:
    detail = classify_ssh(255, "No ED25519 host key is known for h and you have requested strict checking.\n"
                               "Host key verification failed.\n")[1]
    assert detail.endswith("Host key verification failed.") and "@" not in detail


def test_all_hosts_at_once_and_the_wait_ends_when_the_last_is_ready() -> None:
    ready_at = {"a": 0.0, "b": 1.0, "c": 1.5}
    banners = {name: Server(b"SSH-2.0-fake\r\n") for name in ready_at}
    by_port = {str(server.port): name for name, server in banners.items()}
    started = time.monotonic()

    def runner(argv: list[str], timeout: float) -> tuple[str | None, str]:
        name = by_port[argv[argv.index("-p") + 1]]
        return (None, "") if time.monotonic() - started >= ready_at[name] else ("command_failed", "not yet")

    spec = SshSpec(command="true", poll_interval=0.1, connect_timeout=2)
    hosts = [{"name": n, "address": "127.0.0.1", "port": s.port} for n, s in banners.items()]
    try:
        states = wait_all(hosts, spec, timeout=30, runner=runner)
    finally:
        for server in banners.values():
            server.close()
    elapsed = time.monotonic() - started
    assert all(s.ready for s in states), [s.as_dict() for s in states]
    assert 1.5 <= elapsed < 4  # not 30: the wait ends as soon as every host answers
    assert states[2].seconds is not None and states[2].seconds >= 1.5


def test_one_deadline_for_all_hosts_whatever_each_one_does(servers: dict[str, Server]) -> None:
    ports = {"silent": servers["silent"].port, "closed": closed_port()}
    hosts = [{"name": name, "address": "127.0.0.1", "port": port} for name, port in ports.items()]

    def runner(argv: list[str], timeout: float) -> tuple[str | None, str]:
        raise AssertionError("ssh must not run where no SSH server answered")

    started = time.monotonic()
    silent, closed = wait_all(hosts, SshSpec(command="true", connect_timeout=10, poll_interval=0.2), timeout=2,
                              runner=runner)
    elapsed = time.monotonic() - started
    assert 1.8 <= elapsed < 4, elapsed  # the silent port's 10 s connect_timeout is cut to what is left of 2 s
    assert silent.reason == "no_banner" and closed.reason == "refused"
    assert closed.attempts > 3 and silent.attempts == 1
    message = failure_message([silent, closed], 2, {"refused": "check campaign_do_ssh_sources"})
    assert message.startswith("2 of 2 hosts did not answer SSH within 2 s: silent 127.0.0.1: no banner (port")
    assert message.endswith("closed 127.0.0.1: refused (TCP port "
                            f"{ports['closed']} answered with a reset) - check campaign_do_ssh_sources")


def test_real_ssh_against_a_fake_server_is_an_ssh_error_within_the_deadline(servers: dict[str, Server]) -> None:
    spec = SshSpec(port=servers["ssh"].port, command="true", known_hosts="/dev/null", poll_interval=0.2,
                   connect_timeout=2)
    argv = ssh_argv(spec, "127.0.0.1", 2)
    assert argv[-2:] == ["root@127.0.0.1", "true"] and "StrictHostKeyChecking=yes" in argv
    started = time.monotonic()
    [state] = wait_all([{"name": "fake", "address": "127.0.0.1"}], spec, timeout=3)
    assert time.monotonic() - started < 8
    assert not state.ready and state.reason in ("ssh_error", "no_banner"), state.as_dict()
