"""The partition nemesis: rules, idempotence, heal safety, the self-heal timer (a fake nft), and the real nft in a
private network namespace (loopback only) when the host allows it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._nemesis.partition import (
    Partition,
    PartitionError,
    normalize,
    parse_table,
    ruleset,
)

ROOT = Path(__file__).resolve().parents[4]


class FakeNft:
    """A command runner that keeps the one table's elements; records every command."""

    def __init__(self) -> None:
        self.peers: list[str] | None = None
        self.calls: list[list[str]] = []
        self.fail_apply = False

    def __call__(self, argv: list[str], data: str | None) -> tuple[int, str, str]:
        self.calls.append(argv)
        cmd = argv[1:]
        if cmd[:2] == ["-j", "list"]:
            if self.peers is None:
                return 1, "", "Error: No such file or directory"
            elems = [{"set": {"name": "peers4", "elem": [p for p in self.peers if ":" not in p]}},
                     {"set": {"name": "peers6", "elem": [p for p in self.peers if ":" in p]}},
                     {"rule": {"chain": "input", "expr": [{"counter": {"packets": 3, "bytes": 180}}]}}]
            return 0, json.dumps({"nftables": [{"metainfo": {}}, *elems]}), ""
        if cmd == ["-f", "-"]:
            if self.fail_apply:
                return 1, "", "Error: syntax"
            assert data is not None
            line = next(x for x in data.splitlines() if "set peers4" in x)
            v4 = line.split("elements = {")[1].split("}")[0] if "elements" in line else ""
            line6 = next(x for x in data.splitlines() if "set peers6" in x)
            v6 = line6.split("elements = {")[1].split("}")[0] if "elements" in line6 else ""
            self.peers = [p.strip() for p in (v4 + "," + v6).split(",") if p.strip()]
            return 0, "", ""
        if cmd[:1] == ["delete"]:
            if self.peers is None:
                return 1, "", "Error: No such file or directory"
            self.peers = None
            return 0, "", ""
        return 0, "", ""  # systemctl / systemd-run


def test_ruleset_drops_both_directions_for_v4_and_v6() -> None:
    script = ruleset(["10.0.0.2", "10.0.0.1/32", "fd00::1", "10.1.0.0/16"])
    assert script.startswith("table inet aimem_partition\ndelete table inet aimem_partition\n")
    assert "elements = { 10.0.0.1, 10.0.0.2, 10.1.0.0/16 }" in script and "elements = { fd00::1 }" in script
    for rule in ("ip saddr @peers4 counter drop", "ip daddr @peers4 counter drop", "ip6 saddr @peers6 counter drop",
                 "ip6 daddr @peers6 counter drop", "hook input", "hook output"):
        assert rule in script
    assert "set peers6 { type ipv6_addr; flags interval; }" in ruleset(["10.0.0.1"])
    with pytest.raises(PartitionError):
        ruleset([])
    with pytest.raises(PartitionError):
        normalize(["not-an-ip"])


def test_inject_is_idempotent_and_heal_is_always_safe() -> None:
    nft = FakeNft()
    part = Partition(nft, "nft", "systemctl", "systemd-run")
    assert part.heal()["changed"] is False  # healing a healthy host
    planned = part.inject(["10.0.0.2", "10.0.0.1"], check_mode=True)
    assert planned["changed"] and nft.peers is None and "10.0.0.1, 10.0.0.2" in planned["rules"]
    first = part.inject(["10.0.0.2", "10.0.0.1"])
    assert first["changed"] and first["before"] is None and first["isolate_from"] == ["10.0.0.1", "10.0.0.2"]
    assert first["applied_at"].endswith("Z") and isinstance(first["applied_at_ns"], int)
    again = part.inject(["10.0.0.1", "10.0.0.2"])
    assert again["changed"] is False and again["before"] == ["10.0.0.1", "10.0.0.2"]
    other = part.inject(["10.0.0.3"])
    assert other["changed"] and nft.peers == ["10.0.0.3"]
    assert part.heal(check_mode=True)["changed"] and nft.peers == ["10.0.0.3"]
    healed = part.heal()
    assert healed["changed"] and nft.peers is None and healed["dropped_packets"] == {"input": 3, "output": 0}
    assert part.heal()["changed"] is False


def test_self_heal_timer_is_armed_and_cancelled() -> None:
    nft = FakeNft()
    part = Partition(nft, "nft", "systemctl", "systemd-run")
    result = part.inject(["10.0.0.1"], heal_after=90)
    assert result["heal_timer"] == {"unit": "aimem-partition-heal.timer", "after_s": 90}
    armed = next(c for c in nft.calls if c[0] == "systemd-run")
    assert "--on-active=90s" in armed and armed[-5:] == ["nft", "delete", "table", "inet", "aimem_partition"]
    nft.calls.clear()
    part.heal()
    assert ["systemctl", "stop", "aimem-partition-heal.timer", "aimem-partition-heal.service"] in nft.calls
    with pytest.raises(PartitionError):
        Partition(FakeNft(), "nft").inject(["10.0.0.1"], heal_after=5)


class FakeNet:
    """A prober over the fake nft: an isolated address gets no answer, the others connect (or refuse)."""

    def __init__(self, nft: FakeNft, answer: str = "connected") -> None:
        self.nft, self.answer, self.calls = nft, answer, []

    def __call__(self, host: str, port: int, timeout: float) -> dict[str, object]:
        self.calls.append((host, port))
        cut = self.nft.peers is not None and host in self.nft.peers
        return {"to": f"{host}:{port}", "outcome": "blocked" if cut else self.answer, "elapsed_ms": 1.0,
                "detail": None}


def test_the_cut_is_observed_before_and_after_the_rules() -> None:
    nft = FakeNft()
    net = FakeNet(nft)
    cut = Partition(nft, prober=net).inject(["10.0.0.1", "10.0.0.2", "10.9.0.0/24"], observe_port=9077)
    observed = cut["observed"]
    assert observed["blocked"] is True
    assert [p["to"] for p in observed["probes"]] == ["10.0.0.1:9077", "10.0.0.2:9077"]
    assert {p["baseline"] for p in observed["probes"]} == {"connected"} and len(net.calls) == 4  # networks: no
    # nothing answered before the cut (the peer's host is down): the probe proves nothing
    dark = Partition(FakeNft(), prober=lambda h, p, t: {"to": h, "outcome": "blocked"}).inject(
        ["10.0.0.1"], observe_port=9077)
    assert dark["observed"]["blocked"] is False and "did not answer before the cut" in dark["observed"]["note"]
    # rules that do not cut (nft accepted them, nothing is dropped): not blocked
    leaky = FakeNft()
    leaky_net = FakeNet(FakeNft())
    assert Partition(leaky, prober=leaky_net).inject(["10.0.0.1"], observe_port=9077)["observed"]["blocked"] is False
    only_nets = Partition(FakeNft(), prober=net).inject(["10.9.0.0/24"], observe_port=9077)["observed"]
    assert only_nets["blocked"] is False and "networks only" in only_nets["note"]
    assert Partition(FakeNft(), prober=net).inject(["10.0.0.1"])["observed"] is None  # observe_port 0
    assert Partition(FakeNft(), prober=net).inject(["10.0.0.1"], True, observe_port=9077)["observed"] is None


def test_nft_refusal_is_an_error() -> None:
    nft = FakeNft()
    nft.fail_apply = True
    with pytest.raises(PartitionError, match="nft refused"):
        Partition(nft, "nft").inject(["10.0.0.1"])


def test_parse_table_reads_prefixes() -> None:
    doc = {"nftables": [{"set": {"name": "peers4", "elem": [{"prefix": {"addr": "10.1.0.0", "len": 16}}, "10.0.0.1"]}},
                        {"rule": {"chain": "output", "expr": [{"match": {}}, {"counter": {"packets": 7}}]}}]}
    assert parse_table(json.dumps(doc)) == {"peers": ["10.0.0.1", "10.1.0.0/16"],
                                            "dropped_packets": {"input": 0, "output": 7}}


NETNS_OK = os.geteuid() == 0 and shutil.which("unshare") and shutil.which("nft") and shutil.which("ip")

MODULE_RUN = r"""
import json, socket, sys
sys.path.insert(0, sys.argv[1])
from ansible.module_utils.testing import patch_module_args
from ansible_collections.aimemory.swarm.plugins.modules import network_partition
def run(args):
    try:
        with patch_module_args(args):
            network_partition.main()
    except SystemExit:
        pass
def connect(host):
    s = socket.socket(); s.settimeout(0.5)
    try:
        s.connect((host, 9)); return "connected"
    except socket.timeout:
        return "dropped"
    except OSError as exc:
        return type(exc).__name__
    finally:
        s.close()
print("BEFORE", connect("127.0.0.2"), flush=True)
run({"isolate_from": ["127.0.0.2"], "observe_timeout": 1})
print("\nDURING", connect("127.0.0.2"), connect("127.0.0.1"), flush=True)
run({"isolate_from": ["127.0.0.2"], "observe_timeout": 1})
print("\nAFTER_AGAIN", flush=True)
run({"state": "absent"})
print("\nHEALED", connect("127.0.0.2"), flush=True)
run({"state": "absent"})
"""


@pytest.mark.skipif(not NETNS_OK, reason="needs root, unshare, ip and nft to use a private network namespace")
def test_the_module_cuts_and_heals_for_real_in_a_private_netns(tmp_path: Path) -> None:
    """Runs the module's main() against the real nft inside `unshare --net` (a namespace with only loopback):
    connections to the isolated address are dropped, others are not, a second inject changes nothing, a heal
    restores it and a second heal changes nothing. The host's own ruleset is never touched."""
    script = tmp_path / "run.py"
    script.write_text(MODULE_RUN)
    proc = subprocess.run(["unshare", "--net", "sh", "-c",
                           f'ip link set lo up && exec "{sys.executable}" "{script}" "{ROOT / ".collections"}"'],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [r["changed"] for r in results] == [True, False, True, False], out
    assert results[0]["isolate_from"] == ["127.0.0.2"] and results[2]["dropped_packets"]["output"] >= 1
    assert "BEFORE ConnectionRefusedError" in out and "DURING dropped ConnectionRefusedError" in out
    assert "HEALED ConnectionRefusedError" in out
    # the cut is observed: port 9077 of 127.0.0.2 answered (a reset) before the rules and not after them
    first, again = results[0]["observed"], results[1]["observed"]
    assert first["blocked"] is True and first["probe"]["baseline"] == "refused", first
    assert first["probe"]["outcome"] == "blocked" and first["probe"]["to"] == "127.0.0.2:9077"
    assert again["blocked"] is True and again["probe"]["baseline"] is None  # already cut: no clean before
    assert results[2]["observed"] is None
