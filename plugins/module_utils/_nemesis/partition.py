# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Network partition with nftables: runtime rules only (a heal, or a reboot, clears them)."""

from __future__ import annotations

import ipaddress

TABLE = "aimem_partition"


def ruleset(isolate_from: list[str]) -> str:
    """nft script that drops all traffic to and from the given addresses."""
    addrs = sorted({str(ipaddress.ip_address(a)) for a in isolate_from})
    if not addrs:
        raise ValueError("isolate_from must list at least one address")
    elems = ", ".join(addrs)
    return (f"table inet {TABLE} {{\n"
            f"  set isolated {{ type ipv4_addr; elements = {{ {elems} }} }}\n"
            f"  chain input {{ type filter hook input priority -10; policy accept; ip saddr @isolated drop; }}\n"
            f"  chain output {{ type filter hook output priority -10; policy accept; ip daddr @isolated drop; }}\n"
            f"}}\n")
