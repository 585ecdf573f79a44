# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""The campaign's VPC range and cloud firewall rules.

The VPC range is derived from the campaign id inside a configurable pool (a hash picks the first slot to try)
and checked against every VPC the API lists, so two concurrent campaigns do not collide; DigitalOcean refuses
overlapping ranges anyway, which turns a race between two campaigns into a clear error, never a shared network.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

# Ranges DigitalOcean keeps for itself (Kubernetes pod/service networks); a VPC may not use them.
RESERVED = [ipaddress.ip_network(n) for n in ("10.244.0.0/16", "10.245.0.0/16", "10.246.0.0/24")]
PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
MIN_SSH_PREFIX = {4: 16, 6: 32}
ANYWHERE = ["0.0.0.0/0", "::/0"]


def _network(text: str, what: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError as exc:
        raise ValueError(f"{what} {text!r} is not an IP address or network") from exc


def check_pool(pool: str, prefix: int) -> ipaddress.IPv4Network:
    net = _network(pool, "VPC pool")
    if net.version != 4 or not any(net.subnet_of(p) for p in PRIVATE):
        raise ValueError(f"VPC pool {pool} must be an RFC 1918 IPv4 network (10/8, 172.16/12, 192.168/16)")
    if not 16 <= prefix <= 28:
        raise ValueError(f"VPC prefix /{prefix} must be between /16 and /28 (DigitalOcean's VPC sizes)")
    if prefix < net.prefixlen:
        raise ValueError(f"VPC prefix /{prefix} is larger than the pool {pool}")
    return net  # type: ignore[return-value]


def choose_vpc_range(campaign_id: str, pool: str, prefix: int, taken: list[str]) -> str:
    """The first slot of the pool, from the campaign id's hash onwards, that overlaps no listed VPC."""
    net = check_pool(pool, prefix)
    used = [_network(t, "existing VPC range") for t in taken if t]
    slots = 2 ** (prefix - net.prefixlen)
    start = int(hashlib.sha256(campaign_id.encode()).hexdigest(), 16) % slots
    size = 2 ** (32 - prefix)
    base = int(net.network_address)
    for i in range(slots):
        slot = ipaddress.ip_network(f"{ipaddress.IPv4Address(base + ((start + i) % slots) * size)}/{prefix}")
        if any(slot.overlaps(u) for u in used + RESERVED):
            continue
        return str(slot)
    raise ValueError(f"every /{prefix} of the VPC pool {pool} overlaps an existing VPC ({len(used)} listed): "
                     "choose another campaign_do_vpc_pool")


def check_ssh_sources(sources: list[str]) -> list[str]:
    """Normalised SSH sources; refuses the whole Internet and any network shorter than /16 (IPv4) or /32 (IPv6)."""
    if not sources:
        raise ValueError("no SSH source was given: set the controller's egress address (e.g. 203.0.113.7/32)")
    out = []
    for text in sources:
        net = _network(text, "SSH source")
        if net.prefixlen < MIN_SSH_PREFIX[net.version]:
            raise ValueError(f"SSH source {text} is too wide (/{net.prefixlen}); SSH must only be open to the "
                             f"controller's egress address, never {' or '.join(ANYWHERE)} (at most "
                             f"/{MIN_SSH_PREFIX[4]} for IPv4, /{MIN_SSH_PREFIX[6]} for IPv6)")
        out.append(str(net))
    return out


def firewall_rules(ssh_sources: list[str], vpc_range: str, ports: list[int]) -> dict[str, list[dict[str, Any]]]:
    """Inbound: SSH from the controller only, the campaign's service ports from the VPC only. Outbound: all."""
    inbound = [{"protocol": "tcp", "ports": "22", "sources": {"addresses": list(ssh_sources)}}]
    inbound += [{"protocol": "tcp", "ports": str(port), "sources": {"addresses": [vpc_range]}} for port in ports]
    outbound = [{"protocol": proto, "ports": "1-65535", "destinations": {"addresses": list(ANYWHERE)}}
                for proto in ("tcp", "udp")]
    return {"inbound_rules": inbound, "outbound_rules": outbound}
