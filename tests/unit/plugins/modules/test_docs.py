"""Each module's DOCUMENTATION, EXAMPLES and RETURN parse, and the documented options (with the doc fragments it
extends) match the argument spec the module really builds: names, types, defaults, required, elements; secrets
are no_log and check mode is declared."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from ansible.module_utils import basic
from ansible_collections.aimemory.swarm.plugins.doc_fragments import attributes, do_api, endpoint
from ansible_collections.aimemory.swarm.plugins.modules import (
    ai_memory_functional,
    ai_memory_migration,
    clock_skew,
    do_api_proxy,
    do_budget,
    do_campaign_info,
    do_campaign_plan,
    do_vpc_delete,
    history_check,
    history_event,
    history_wait,
    local_swarm,
    local_swarm_image,
    memory_convergence,
    memory_request,
    memory_workload,
    mtls_probe,
    network_partition,
    node_clock,
    node_process,
    ssh_wait,
)

MODULES = [memory_workload, memory_convergence, mtls_probe, history_event, history_check, network_partition,
           node_process, clock_skew, node_clock, history_wait, memory_request, ai_memory_migration,
           ai_memory_functional, local_swarm, local_swarm_image, do_budget, do_campaign_plan, do_campaign_info,
           do_api_proxy, do_vpc_delete, ssh_wait]
FRAGMENTS = {"aimemory.swarm.endpoint": endpoint.ModuleDocFragment, "aimemory.swarm.do_api": do_api.ModuleDocFragment,
             "aimemory.swarm.attributes": attributes.ModuleDocFragment}
SECRETS = ("api_key", "oauth_token", "pg_url")


class Captured(Exception):
    pass


def argspec(module: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def fake_init(self: Any, argument_spec: dict[str, Any], **kwargs: Any) -> None:
        seen.update(spec=argument_spec, **kwargs)
        raise Captured

    monkeypatch.setattr(basic.AnsibleModule, "__init__", fake_init)
    with pytest.raises(Captured):
        module.main()
    return seen


@pytest.mark.parametrize("module", MODULES, ids=[m.__name__.rsplit(".", 1)[1] for m in MODULES])
def test_documentation_matches_the_argument_spec(module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert isinstance(yaml.safe_load(module.EXAMPLES), list)
    returns = yaml.safe_load(module.RETURN)
    assert all({"description", "returned", "type"} <= set(v) for v in returns.values())
    options = dict(doc.get("options") or {})
    fragments = doc.get("extends_documentation_fragment") or []
    for fragment in fragments:
        options.update(yaml.safe_load(FRAGMENTS[fragment].DOCUMENTATION).get("options") or {})
    assert doc["module"] == module.__name__.rsplit(".", 1)[1]
    assert doc["attributes"]["check_mode"]["support"] == "full"
    assert "aimemory.swarm.attributes" in fragments  # the standard check_mode / diff_mode descriptions
    seen = argspec(module, monkeypatch)
    assert seen["supports_check_mode"] is True
    spec = seen["spec"]
    assert set(spec) == set(options), set(spec) ^ set(options)
    for name, arg in spec.items():
        documented = options[name]
        assert documented.get("type", "str") == arg.get("type", "str"), name
        assert documented.get("default") == arg.get("default"), name
        assert bool(documented.get("required")) == bool(arg.get("required")), name
        assert documented.get("elements") == arg.get("elements"), name
        assert documented.get("choices") in (None, arg.get("choices")), name
        assert documented.get("description"), name
    for secret in SECRETS:
        if secret in spec:
            assert spec[secret]["no_log"] is True, secret
    if "oauth_token" in spec:  # the DigitalOcean modules share their API options through the do_api fragment
        assert "aimemory.swarm.do_api" in fragments
