# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""API options shared by the DigitalOcean modules (doc fragment ``aimemory.swarm.do_api``)."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible_collections.aimemory.swarm.plugins.module_utils._do.api import DEFAULT_BASEURL, DoClient


def api_argument_spec() -> dict[str, Any]:
    return dict(
        baseurl=dict(type="str", default=DEFAULT_BASEURL),
        oauth_token=dict(type="str", no_log=True, fallback=(env_fallback, ["DO_API_TOKEN", "DIGITALOCEAN_TOKEN"])),
        timeout=dict(type="float", default=30.0),
        retry_seconds=dict(type="float", default=60.0),
        validate_certs=dict(type="bool", default=True),
    )


def client(module: AnsibleModule) -> DoClient:
    p = module.params
    if not p["oauth_token"]:
        module.fail_json(msg="no DigitalOcean API token: set oauth_token, or DO_API_TOKEN / DIGITALOCEAN_TOKEN")
    return DoClient(p["baseurl"], p["oauth_token"], timeout=p["timeout"], retry_seconds=p["retry_seconds"],
                    validate_certs=p["validate_certs"])
