# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""What a campaign (or the whole project) holds on DigitalOcean, read from the API, not from local state.

Droplets are found by tag; VPCs, firewalls and SSH keys by name (see ``names``). In sweep mode every project
resource is annotated with its campaign's short id, its expiry and whether that expiry has passed.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._do.api import DoClient
from ansible_collections.aimemory.swarm.plugins.module_utils._do.names import (
    EXPIRY_TAG_RE,
    campaign_tag,
    expiry_of_tags,
    parse_resource_name,
    short_id,
)


def epoch(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    try:
        return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def _price(value: Any) -> float | None:
    """The hourly price the API gave, None when it gave none (never a silent 0)."""
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def summarize_droplet(droplet: dict[str, Any], project: str, now: float) -> dict[str, Any]:
    v4 = (droplet.get("networks") or {}).get("v4") or []
    public = [n.get("ip_address") for n in v4 if n.get("type") == "public"]
    private = [n.get("ip_address") for n in v4 if n.get("type") == "private"]
    size = droplet.get("size") or {}
    tags = list(droplet.get("tags") or [])
    expires_at = expiry_of_tags(tags)
    campaign = next((t for t in tags if t.startswith("campaign-")), None)
    return {
        "id": droplet.get("id"), "name": droplet.get("name"), "status": droplet.get("status"),
        "size": droplet.get("size_slug") or size.get("slug"), "price_hourly": _price(size.get("price_hourly")),
        "region": (droplet.get("region") or {}).get("slug"), "vpc_uuid": droplet.get("vpc_uuid"),
        "created_at": droplet.get("created_at"), "created_epoch": epoch(droplet.get("created_at")),
        "public_ip": public[0] if public else None, "private_ip": private[0] if private else None,
        "tags": tags, "project": project in tags,
        "campaign_sid": short_id(campaign[len("campaign-"):].replace(":", ".")) if campaign else None,
        "expires_at": expires_at, "expired": expires_at is not None and expires_at <= now,
    }


def _named(items: list[dict[str, Any]], project: str, now: float, extra: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        parsed = parse_resource_name(project, str(item.get("name", "")))
        if parsed is None:
            continue
        sid, expires_at = parsed
        entry = {key: item.get(key) for key in ("id", "name", *extra)}
        entry.update(campaign_sid=sid, expires_at=expires_at, expired=expires_at <= now)
        out.append(entry)
    return out


def _tag_entry(tag: dict[str, Any], now: float) -> dict[str, Any]:
    name = str(tag.get("name", ""))
    match = EXPIRY_TAG_RE.match(name)
    expires_at = int(match.group(1)) if match else None
    campaign = name[len("campaign-"):].replace(":", ".") if name.startswith("campaign-") else None
    return {"name": name, "count": int(((tag.get("resources") or {}).get("count")) or 0),
            "campaign_sid": short_id(campaign) if campaign else None,
            "expires_at": expires_at, "expired": expires_at is not None and expires_at <= now}


def left_over(found: dict[str, Any]) -> str:
    """What a campaign still holds, for a message ('' when nothing): names by kind, tags with their count."""
    parts = [f"{kind} {', '.join(str(r.get('name')) for r in found[kind])}"
             for kind in ("droplets", "firewalls", "vpcs", "ssh_keys") if found[kind]]
    if found["left_tags"]:
        parts.append("tags " + ", ".join(f"{t['name']} (on {t['count']} resources)" for t in found["left_tags"]))
    return "; ".join(parts)


def _campaign_view(droplets: list[dict[str, Any]], firewalls: list[dict[str, Any]], vpcs: list[dict[str, Any]],
                   keys: list[dict[str, Any]], tags: list[dict[str, Any]], campaign_id: str,
                   expires_hint: int) -> dict[str, Any]:
    sid, ctag = short_id(campaign_id), campaign_tag(campaign_id)
    droplets = [d for d in droplets if ctag in d["tags"]]
    firewalls, vpcs, keys = ([r for r in group if r["campaign_sid"] == sid] for group in (firewalls, vpcs, keys))
    expiries = {d["expires_at"] for d in droplets} | {r["expires_at"] for r in firewalls + vpcs + keys}
    expiries.discard(None)
    wanted = expiries | ({expires_hint} if expires_hint else set())
    tags = [t for t in tags if t["name"] == ctag or t["expires_at"] in wanted]
    # the campaign tag whatever carries it; an expiry tag only while nothing carries it (once the campaign's
    # droplets are gone, a count above zero means another campaign's droplets share that expiry second)
    left_tags = [t for t in tags if t["name"] == ctag or t["count"] == 0]
    found = {"droplets": droplets, "firewalls": firewalls, "vpcs": vpcs, "ssh_keys": keys, "tags": tags,
             "left_tags": left_tags, "expires_at": min(expiries) if expiries else None}
    found["left"] = left_over(found)
    found["empty"] = not found["left"]
    return found


def _orphan(tag: dict[str, Any], project: str, sids: set[Any], expiries: set[Any]) -> bool:
    """A campaign or expiry tag that carries nothing, of a campaign with nothing left (no droplet, VPC, firewall
    or SSH key of its campaign or expiry). Tags are listed before the resources and provisioning creates the
    campaign tag only after the campaign's SSH key and VPC, so a campaign being provisioned is never orphaned."""
    if tag["count"] or tag["name"] == project:
        return False
    if tag["campaign_sid"] is not None:
        return tag["campaign_sid"] not in sids
    return tag["expires_at"] is not None and tag["expires_at"] not in expiries


def inventory(client: DoClient, project: str, campaign_id: str | None = None,
              now: float | None = None, expires_hint: int = 0) -> dict[str, Any]:
    """The campaign's resources (campaign_id given) or every project resource with its expiry (sweep)."""
    now = time.time() if now is None else now
    tags = [_tag_entry(t, now) for t in client.list("tags", "tags")]  # first: see _orphan
    droplets = [summarize_droplet(d, project, now)
                for d in client.list("droplets", "droplets", {"tag_name": project})]
    vpcs_all = client.list("vpcs", "vpcs")
    firewalls = _named(client.list("firewalls", "firewalls"), project, now, ("status", "tags"))
    vpcs = _named(vpcs_all, project, now, ("ip_range", "region", "description"))
    keys = _named(client.list("account/keys", "ssh_keys"), project, now, ("fingerprint",))
    ranges = [str(v.get("ip_range")) for v in vpcs_all if v.get("ip_range")]
    if campaign_id is not None:
        return {**_campaign_view(droplets, firewalls, vpcs, keys, tags, campaign_id, expires_hint),
                "vpc_ranges": ranges}
    tags = [t for t in tags if t["campaign_sid"] or t["expires_at"] is not None or t["name"] == project]
    everything = droplets + firewalls + vpcs + keys
    expired_sids = {r["campaign_sid"] for r in everything if r["expired"]}
    live_sids = {r["campaign_sid"] for r in everything if not r["expired"]}
    expiries = {r["expires_at"] for r in everything if r["expires_at"] is not None}
    expired = {
        "droplets": [d for d in droplets if d["expired"]],
        "firewalls": [r for r in firewalls if r["expired"]],
        "vpcs": [r for r in vpcs if r["expired"]],
        "ssh_keys": [r for r in keys if r["expired"]],
        # an expiry tag once no resource carries it (a droplet that failed to go keeps its expiry for the next
        # sweep), the campaign tag of a campaign whose resources have all expired, and orphans (see _orphan)
        "tags": [t for t in tags if (t["expired"] and t["count"] == 0)
                 or (t["campaign_sid"] in expired_sids and t["campaign_sid"] not in live_sids)
                 or _orphan(t, project, expired_sids | live_sids, expiries)],
    }
    return {"droplets": droplets, "firewalls": firewalls, "vpcs": vpcs, "ssh_keys": keys, "tags": tags,
            "vpc_ranges": ranges, "expired": expired,
            "unexpiring_droplets": [d for d in droplets if d["expires_at"] is None]}
