# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Network partition nemesis (Jepsen ``partitioner``): nftables drops every packet to and from given peers.

One table, ``inet aimem_partition``, with two interval sets (``peers4``, ``peers6``) and an input and an output
chain that drop (and count) packets from / to them. Runtime state only: nothing is persisted, a heal (or a
reboot) removes it. ``inject`` replaces the table atomically (one ``nft -f`` transaction) and is idempotent: the
same peers again change nothing. ``heal`` deletes the table; healing a healed host changes nothing and never
fails. An optional transient systemd timer heals by itself after N seconds, in case the controller never comes
back to heal (the safety net of community.general ``iptables_state``).

``inject`` also observes the cut (``observe_port``): before the rules, a TCP connection to each isolated address
must get an answer (connected, or refused: a packet came back); after them, none (blocked). ``observed.blocked``
is true only then: a partition that did not take effect is recorded as such, never assumed.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._nemesis.observe import each, tcp_outcome
from ansible_collections.aimemory.swarm.plugins.module_utils._ops import rfc3339

TABLE = "aimem_partition"
FAMILY = "inet"
HEAL_UNIT = "aimem-partition-heal"
Runner = Callable[[list[str], "str | None"], "tuple[int, str, str]"]
Prober = Callable[[str, int, float], "dict[str, Any]"]
REACHABLE = ("connected", "refused")


class PartitionError(Exception):
    pass


def normalize(addresses: list[str]) -> tuple[list[str], list[str]]:
    """(IPv4, IPv6) addresses or networks, canonical and sorted; a host is written without ``/32``/``/128``."""
    v4: set[ipaddress.IPv4Network] = set()
    v6: set[ipaddress.IPv6Network] = set()
    for raw in addresses:
        try:
            net = ipaddress.ip_network(str(raw).strip(), strict=False)
        except ValueError as exc:
            raise PartitionError(f"not an IP address or network: {raw!r}") from exc
        if isinstance(net, ipaddress.IPv4Network):
            v4.add(net)
        else:
            v6.add(net)

    def text(nets: set[Any]) -> list[str]:
        return [str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n) for n in sorted(nets)]

    return text(v4), text(v6)


def ruleset(addresses: list[str]) -> str:
    """The nft script that (re)creates the table in one transaction."""
    v4, v6 = normalize(addresses)
    if not v4 and not v6:
        raise PartitionError("isolate_from must list at least one address")

    def set_decl(name: str, kind: str, elems: list[str]) -> str:
        elements = f" elements = {{ {', '.join(elems)} }};" if elems else ""
        return f"  set {name} {{ type {kind}; flags interval;{elements} }}\n"

    return (f"table {FAMILY} {TABLE}\n"
            f"delete table {FAMILY} {TABLE}\n"
            f"table {FAMILY} {TABLE} {{\n"
            + set_decl("peers4", "ipv4_addr", v4) + set_decl("peers6", "ipv6_addr", v6) +
            "  chain input {\n    type filter hook input priority -10; policy accept;\n"
            "    ip saddr @peers4 counter drop\n    ip6 saddr @peers6 counter drop\n  }\n"
            "  chain output {\n    type filter hook output priority -10; policy accept;\n"
            "    ip daddr @peers4 counter drop\n    ip6 daddr @peers6 counter drop\n  }\n"
            "}\n")


def _element(elem: Any) -> str | None:
    if isinstance(elem, str):
        return elem
    if isinstance(elem, dict) and isinstance(elem.get("prefix"), dict):
        prefix = elem["prefix"]
        return str(ipaddress.ip_network(f"{prefix.get('addr')}/{prefix.get('len')}", strict=False))
    if isinstance(elem, dict) and isinstance(elem.get("elem"), dict):
        return _element(elem["elem"].get("val"))
    return None


def parse_table(text: str) -> dict[str, Any]:
    """Peers and drop counters from ``nft -j list table``."""
    doc = json.loads(text)
    peers: list[str] = []
    dropped = {"input": 0, "output": 0}
    for item in doc.get("nftables", []):
        if "set" in item and item["set"].get("name") in ("peers4", "peers6"):
            for elem in item["set"].get("elem", []) or []:
                value = _element(elem)
                if value is not None:
                    peers.append(value)
        if "rule" in item and item["rule"].get("chain") in dropped:
            for expr in item["rule"].get("expr", []):
                if isinstance(expr, dict) and isinstance(expr.get("counter"), dict):
                    dropped[item["rule"]["chain"]] += int(expr["counter"].get("packets", 0))
    v4, v6 = normalize(peers) if peers else ([], [])
    return {"peers": v4 + v6, "dropped_packets": dropped}


class Partition:
    """The partition on this host, through a command runner ``run(argv, stdin) -> (rc, out, err)``."""

    def __init__(self, run: Runner, nft: str = "nft", systemctl: str | None = None,
                 systemd_run: str | None = None, prober: Prober | None = None) -> None:
        self.run, self.nft, self.systemctl, self.systemd_run = run, nft, systemctl, systemd_run
        self.prober = prober or tcp_outcome

    def _probe(self, hosts: list[str], port: int, timeout: float) -> list[dict[str, Any]]:
        return each([{"host": h} for h in hosts], lambda t: self.prober(t["host"], port, timeout))

    def current(self) -> dict[str, Any] | None:
        """The table's peers and counters, None if there is no table; ``{"peers": None}`` if unreadable."""
        rc, out, _err = self.run([self.nft, "-j", "list", "table", FAMILY, TABLE], None)
        if rc != 0:
            return None
        try:
            return parse_table(out)
        except (ValueError, KeyError, TypeError, AttributeError):
            return {"peers": None, "dropped_packets": None}

    def _cancel_timer(self) -> None:
        if self.systemctl:
            self.run([self.systemctl, "stop", f"{HEAL_UNIT}.timer", f"{HEAL_UNIT}.service"], None)
            self.run([self.systemctl, "reset-failed", f"{HEAL_UNIT}.timer", f"{HEAL_UNIT}.service"], None)

    def inject(self, addresses: list[str], check_mode: bool = False, heal_after: int = 0, observe_port: int = 0,
               observe_timeout: float = 2.0) -> dict[str, Any]:
        script = ruleset(addresses)
        v4, v6 = normalize(addresses)
        wanted = v4 + v6
        before = self.current()
        changed = before is None or before.get("peers") != wanted
        result: dict[str, Any] = {"changed": changed, "state": "present", "table": f"{FAMILY} {TABLE}",
                                  "isolate_from": wanted, "rules": script,
                                  "before": None if before is None else before.get("peers"), "heal_timer": None,
                                  "observed": None}
        hosts = [a for a in wanted if "/" not in a]
        observing = observe_port > 0 and not check_mode
        # with no table yet, the path to each address is open: it must answer now, and not once cut
        baseline = self._probe(hosts, observe_port, observe_timeout) if observing and before is None else None
        if changed and not check_mode:
            rc, _out, err = self.run([self.nft, "-f", "-"], script)
            if rc != 0:
                raise PartitionError(f"nft refused the partition rules: {err.strip()}")
        stamp = time.time_ns()
        if observing:
            result["observed"] = observation(hosts, baseline, self._probe(hosts, observe_port, observe_timeout),
                                             observe_port, observe_timeout)
        if heal_after and not check_mode:
            if not (self.systemd_run and self.systemctl):
                raise PartitionError("heal_after needs systemd-run and systemctl on the host")
            self._cancel_timer()
            rc, _out, err = self.run([self.systemd_run, f"--unit={HEAL_UNIT}", f"--on-active={int(heal_after)}s",
                                      "--timer-property=AccuracySec=1s", "--description=heal the aimem partition",
                                      self.nft, "delete", "table", FAMILY, TABLE], None)
            if rc != 0:
                raise PartitionError(f"systemd-run could not arm the heal timer: {err.strip()}")
            result["heal_timer"] = {"unit": f"{HEAL_UNIT}.timer", "after_s": int(heal_after)}
        result.update({"applied_at": rfc3339(stamp), "applied_at_ns": stamp})
        return result

    def heal(self, check_mode: bool = False) -> dict[str, Any]:
        before = self.current()
        changed = before is not None
        if not check_mode:
            self._cancel_timer()
            if changed:
                rc, _out, err = self.run([self.nft, "delete", "table", FAMILY, TABLE], None)
                if rc != 0 and self.current() is not None:  # gone meanwhile (the timer) is healed too
                    raise PartitionError(f"nft could not delete the partition table: {err.strip()}")
        stamp = time.time_ns()
        return {"changed": changed, "state": "absent", "table": f"{FAMILY} {TABLE}", "rules": None,
                "isolate_from": [], "before": None if before is None else before.get("peers"),
                "dropped_packets": None if before is None else before.get("dropped_packets"),
                "applied_at": rfc3339(stamp), "applied_at_ns": stamp, "heal_timer": None, "observed": None}


def observation(hosts: list[str], baseline: list[dict[str, Any]] | None, after: list[dict[str, Any]], port: int,
                timeout: float) -> dict[str, Any]:
    """``{blocked, probe, probes, method}``: blocked only when every isolated address was probed, answered before
    the cut (when there was no cut yet) and gave no answer after it."""
    probes = [{**after[i], "baseline": baseline[i]["outcome"] if baseline is not None else None}
              for i in range(len(hosts))]
    answered_before = baseline is None or all(p["baseline"] in REACHABLE for p in probes)
    blocked = bool(hosts) and answered_before and all(p["outcome"] == "blocked" for p in probes)
    note = None
    if not hosts:
        note = "no single address to probe (networks only)"
    elif not answered_before:
        note = "an address did not answer before the cut: the probe proves nothing"
    when = "before and after the rules" if baseline is not None else "after the rules (a cut was already in place)"
    return {"blocked": blocked, "probe": probes[0] if probes else None, "probes": probes, "note": note,
            "method": f"tcp connect from the isolated host to port {port} of each address, {timeout:g} s, {when}"}
