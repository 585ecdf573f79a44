from __future__ import annotations

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._swarm import image
from ansible_collections.aimemory.swarm.plugins.module_utils._swarm.local import (
    SwarmError,
    bridge_names,
    known_hosts_lines,
    plan,
    route_clashes,
    short_id,
    veth_names,
)

HOSTS = [{"name": "node-a", "groups": ["peers"]}, {"name": "client", "groups": ["client"]}]


def test_plan_assigns_addresses_from_dot_ten() -> None:
    hosts = plan("c1", HOSTS, "198.18.0.0/24", "10.250.0.0/24")
    expected = [("198.18.0.10", "10.250.0.10"), ("198.18.0.11", "10.250.0.11")]
    assert [(h.public_ip, h.private_ip) for h in hosts] == expected
    assert hosts[0].netns == f"aimem-{short_id('c1')}-node-a"


def test_interface_names_fit_linux_limits() -> None:
    sid = short_id("a-very-long-campaign-id-" * 3)
    assert all(len(n) <= 15 for n in (*bridge_names(sid), *veth_names(sid, 14)))


@pytest.mark.parametrize("hosts,public,vpc,needle", [
    ([{"name": "Node_A"}], "198.18.0.0/24", "10.250.0.0/24", "invalid host name"),
    ([{"name": "a"}, {"name": "a"}], "198.18.0.0/24", "10.250.0.0/24", "duplicate"),
    (HOSTS, "198.18.0.0/24", "198.18.0.0/25", "overlap"),
    (HOSTS, "198.18.0.0/33", "10.250.0.0/24", "public_subnet=198.18.0.0/33"),
    (HOSTS, "198.18.0.0/24", "10.250.0.0/29", "vpc_subnet=10.250.0.0/29"),
])
def test_plan_refuses_bad_input(hosts: list, public: str, vpc: str, needle: str) -> None:
    with pytest.raises(SwarmError, match=needle.replace("/", "/").replace(".", r"\.")):
        plan("c1", hosts, public, vpc)


def test_route_clashes_ignore_own_bridges_and_default() -> None:
    routes = [{"dst": "default", "dev": "eth0"}, {"dst": "10.250.0.0/24", "dev": "amabcdefv"},
              {"dst": "192.0.2.0/24", "dev": "eth0"}, {"dst": "10.250.0.7", "dev": "tun0"}]
    problems = route_clashes(routes, {"vpc_subnet": "10.250.0.0/24", "public_subnet": "198.18.0.0/24"},
                             {"amabcdefv", "amabcdefp"})
    assert problems == ["vpc_subnet=10.250.0.0/24 clashes with the existing route 10.250.0.7 dev tun0; "
                        "choose another vpc_subnet"]
    assert route_clashes(routes, {"public_subnet": "192.0.2.128/25"}, set())


def test_known_hosts_pin_both_addresses() -> None:
    hosts = plan("c1", HOSTS[:1], "198.18.0.0/24", "10.250.0.0/24")
    lines = known_hosts_lines(hosts, {"node-a": "ssh-ed25519 AAAAkey root@node-a"})
    assert lines == ["198.18.0.10,10.250.0.10 ssh-ed25519 AAAAkey"]


def test_recipe_hash_changes_with_packages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    a = image.recipe_hash(image.recipe("trixie", "http://m", []))
    assert a == image.recipe_hash(image.recipe("trixie", "http://m", []))
    assert a != image.recipe_hash(image.recipe("trixie", "http://m", ["jq"]))
    assert not image.is_baked(str(tmp_path), a)
    (tmp_path / "sources.list").write_text("deb http://mirror.example/debian bookworm main\n")
    assert image.default_mirror(str(tmp_path)) == "http://mirror.example/debian"


def _write_state(root, campaign: str, **state) -> None:  # type: ignore[no-untyped-def]
    import json

    (root / campaign).mkdir()
    (root / campaign / "state.json").write_text(json.dumps({"campaign_id": campaign, **state}))


def test_sweep_removes_kept_swarms_whose_hosts_died_and_spares_live_ones(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess

    from ansible_collections.aimemory.swarm.plugins.module_utils._swarm.local import STATE_FILE, LocalSwarm

    assert STATE_FILE == "state.json"
    dead = subprocess.Popen(["true"])
    dead.wait()
    me = os.getpid()
    # kept, booted, every host process gone (the machine's processes were killed): swept
    _write_state(tmp_path, "kept-dead", keep=True, owner_pid=dead.pid, expires_at=9e12, known_hosts_file="k",
                 hosts=[{"name": "node-a", "nspawn_pid": dead.pid}])
    # kept, host alive (this test's own pid stands in for a live nspawn): spared
    _write_state(tmp_path, "kept-live", keep=True, owner_pid=dead.pid, expires_at=9e12, known_hosts_file="k",
                 hosts=[{"name": "node-a", "nspawn_pid": me}])
    # owner alive and still booting (no host yet): spared
    _write_state(tmp_path, "booting", keep=False, owner_pid=me, expires_at=9e12, hosts=[])
    # lifetime over: swept even though its owner lives
    _write_state(tmp_path, "expired", keep=True, owner_pid=me, expires_at=1.0, known_hosts_file="k",
                 hosts=[{"name": "node-a", "nspawn_pid": me}])
    commands: list[list[str]] = []

    def run(cmd: list[str]) -> tuple[int, str, str]:
        commands.append(cmd)
        return 0, "[]", ""

    # never signal real processes here: the "live hosts" are this test's own pid
    monkeypatch.setattr(LocalSwarm, "_stop_hosts", lambda self, hosts: [])
    LocalSwarm(run, str(tmp_path)).sweep()
    assert sorted(os.listdir(tmp_path)) == ["booting", "kept-live"]


def test_bakes_wait_for_each_other(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    lock = tmp_path / "bake.lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time\n"
        f"fh = open({str(lock)!r}, 'a'); fcntl.flock(fh, fcntl.LOCK_EX)\n"
        "print('held', flush=True); time.sleep(30)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RuntimeError, match="another image bake held"), image.bake_lock(str(lock), deadline_s=1.5):
            pass
    finally:
        holder.kill()
        holder.wait(10)
    with image.bake_lock(str(lock), deadline_s=5):  # free again once the other bake is gone
        pass


def test_prune_spares_a_bake_in_progress(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    keep = tmp_path / "trixie-aaaa"
    for name in ("trixie-aaaa", "trixie-old", f"trixie-bbbb.partial-{os.getpid()}", "trixie-cccc.partial-999999999"):
        (tmp_path / name).mkdir()
    removed = image.prune(str(tmp_path), str(keep))
    assert sorted(os.path.basename(p) for p in removed) == ["trixie-cccc.partial-999999999", "trixie-old"]
    assert (tmp_path / f"trixie-bbbb.partial-{os.getpid()}").exists()
