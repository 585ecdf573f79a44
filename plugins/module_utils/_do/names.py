# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Names and tags of a campaign's DigitalOcean resources, and how the sweep recognises them.

Droplets carry three tags: the project tag (``aimemory-swarm``), ``campaign-<id>`` and ``expires-<unix time>``.
VPCs, firewalls and SSH keys cannot be tagged, so their name says the same thing:
``<project>-<sid>-<expires>`` where ``sid`` is the first 8 hex digits of sha256(campaign id). Droplets are named
``<project>-<sid>-<host>`` (hostname rules: letters, digits, ``-``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$")
CAMPAIGN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
HOST_RE = re.compile(r"^[a-z][a-z0-9-]{0,20}$")
TAG_RE = re.compile(r"^[A-Za-z0-9:_-]{1,255}$")
EXPIRY_TAG_RE = re.compile(r"^expires-([0-9]{1,12})$")


def short_id(campaign_id: str) -> str:
    return hashlib.sha256(campaign_id.encode()).hexdigest()[:8]


def check_project(project: str) -> None:
    if not PROJECT_RE.match(project):
        raise ValueError(f"project tag {project!r} must be 2-40 lowercase letters, digits or '-' "
                         "(it also prefixes VPC, firewall and droplet names)")


def check_campaign(campaign_id: str) -> None:
    if not CAMPAIGN_RE.match(campaign_id):
        raise ValueError(f"campaign id {campaign_id!r} must be 1-63 letters, digits, '.', '_' or '-'")


def campaign_tag(campaign_id: str) -> str:
    """``campaign-<id>``; DigitalOcean tags allow no '.', so '.' becomes ':' (not allowed in ids: no clash)."""
    return "campaign-" + campaign_id.replace(".", ":")


def expiry_tag(expires_at: int) -> str:
    return f"expires-{int(expires_at)}"


def resource_name(project: str, campaign_id: str, expires_at: int) -> str:
    """Name of the campaign's VPC, firewall and SSH key."""
    return f"{project}-{short_id(campaign_id)}-{int(expires_at)}"


def droplet_name(project: str, campaign_id: str, host: str) -> str:
    return f"{project}-{short_id(campaign_id)}-{host}"


def parse_resource_name(project: str, name: str) -> tuple[str, int] | None:
    """(sid, expires_at) of a project resource name, None for anything else."""
    match = re.match(rf"^{re.escape(project)}-([0-9a-f]{{8}})-([0-9]{{1,12}})$", name or "")
    return (match.group(1), int(match.group(2))) if match else None


def expiry_of_tags(tags: list[str]) -> int | None:
    """The earliest ``expires-<t>`` among the tags, None when there is none."""
    found = [int(m.group(1)) for m in (EXPIRY_TAG_RE.match(t) for t in tags or []) if m]
    return min(found) if found else None


def campaign_of_tags(tags: list[str]) -> str | None:
    for tag in tags or []:
        if tag.startswith("campaign-"):
            return tag[len("campaign-"):].replace(":", ".")
    return None


def ssh_fingerprint(public_key: str) -> str:
    """DigitalOcean's SSH key fingerprint: MD5 of the key blob, colon-separated hex."""
    try:
        blob = base64.b64decode(public_key.split()[1], validate=True)
    except (IndexError, ValueError) as exc:
        raise ValueError("the campaign's SSH public key is not in OpenSSH format") from exc
    digest = hashlib.md5(blob).hexdigest()  # DigitalOcean's key id, not a security measure
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def names(project: str, campaign_id: str, expires_at: int, hosts: list[dict[str, Any]]) -> dict[str, Any]:
    check_project(project)
    check_campaign(campaign_id)
    for host in hosts:
        if not HOST_RE.match(str(host.get("name", ""))):
            raise ValueError(f"host name {host.get('name')!r} must be a lowercase hostname label")
    base = resource_name(project, campaign_id, expires_at)
    return {
        "sid": short_id(campaign_id),
        "tags": {"project": project, "campaign": campaign_tag(campaign_id), "expiry": expiry_tag(expires_at)},
        "vpc": base,
        "firewall": base,
        "ssh_key": base,
        "droplets": {h["name"]: droplet_name(project, campaign_id, h["name"]) for h in hosts},
    }
