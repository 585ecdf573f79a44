"""Each module's DOCUMENTATION, EXAMPLES and RETURN parse, and the documented options (with the doc fragments it
extends) match the argument spec the module really builds: names, types, defaults, required, elements; secrets
are no_log and check mode is declared. A module that reaches the endpoint client documents httpx as a requirement
and fails with missing_required_lib('httpx') without it."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.module_utils import basic
from ansible_collections.aimemory.swarm.plugins import modules as _modules
from ansible_collections.aimemory.swarm.plugins.doc_fragments import attributes, do_api, endpoint

# every module of the collection, found on disk: a new module is checked without being listed here
MODULES = [importlib.import_module(f"{_modules.__name__}.{info.name}")
           for info in pkgutil.iter_modules(_modules.__path__)]
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


PREFIX = "ansible_collections.aimemory.swarm.plugins.module_utils"


def reaches_endpoint(name: str, seen: set[str] | None = None) -> bool:
    """Whether the module ``name`` imports ``_endpoint``, itself or through the collection's module_utils."""
    seen = set() if seen is None else seen
    seen.add(name)
    tree = ast.parse(Path(importlib.import_module(name).__file__ or "").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX):
            if node.module == f"{PREFIX}._endpoint":
                return True
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                try:
                    importlib.import_module(target)
                except ImportError:
                    continue
                if target not in seen and reaches_endpoint(target, seen):
                    return True
    return False


@pytest.mark.parametrize("module", MODULES, ids=[m.__name__.rsplit(".", 1)[1] for m in MODULES])
def test_a_module_that_talks_to_nodes_requires_httpx(module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    uses = reaches_endpoint(module.__name__)
    requirements = yaml.safe_load(module.DOCUMENTATION).get("requirements") or []
    assert any(str(r).startswith("httpx") for r in requirements) == uses, requirements
    if not uses:
        return
    failed: dict[str, Any] = {}

    def fake_init(self: Any, argument_spec: dict[str, Any], **kwargs: Any) -> None:
        self.params, self.check_mode = {}, False

    def fake_fail(self: Any, msg: str, **kwargs: Any) -> None:
        failed.update(msg=msg, **kwargs)
        raise Captured

    monkeypatch.setattr(module, "HAS_HTTPX", False)
    monkeypatch.setattr(module, "HTTPX_IMPORT_ERROR", "ModuleNotFoundError: No module named 'httpx'")
    monkeypatch.setattr(basic.AnsibleModule, "__init__", fake_init)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fake_fail)
    with pytest.raises(Captured):
        module.main()
    assert failed == {"msg": basic.missing_required_lib("httpx"),
                      "exception": "ModuleNotFoundError: No module named 'httpx'"}


def reaches_attest(module: Any) -> bool:
    """Modules that can sign writes: those with the endpoint's options (``agent_keys``) or an ``agent_key``."""
    doc = yaml.safe_load(module.DOCUMENTATION)
    return ("aimemory.swarm.endpoint" in (doc.get("extends_documentation_fragment") or [])
            or bool({"agent_key", "agent_keys"} & set(doc.get("options") or {})))


@pytest.mark.parametrize("module", MODULES, ids=[m.__name__.rsplit(".", 1)[1] for m in MODULES])
def test_a_module_that_can_sign_requires_cryptography(module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Signing needs cryptography: documented, and without it a module asked to sign fails with
    missing_required_lib('cryptography'), never a traceback."""
    signs = reaches_attest(module)
    requirements = yaml.safe_load(module.DOCUMENTATION).get("requirements") or []
    assert any(str(r).startswith("cryptography") for r in requirements) == signs, requirements
    if not signs:
        return
    failed: dict[str, Any] = {}

    def fake_init(self: Any, argument_spec: dict[str, Any], **kwargs: Any) -> None:
        self.params, self.check_mode = {"agent_keys": {"ai:a": "/k.pem"}, "signature_scheme": "ai-memory/write/v1",
                                        "agent_key": "/k.pem"}, False

    def fake_fail(self: Any, msg: str, **kwargs: Any) -> None:
        failed.update(msg=msg, **kwargs)
        raise Captured

    monkeypatch.setattr(module, "HAS_CRYPTOGRAPHY", False)
    monkeypatch.setattr(module, "CRYPTOGRAPHY_IMPORT_ERROR", "ModuleNotFoundError: No module named 'cryptography'")
    monkeypatch.setattr(basic.AnsibleModule, "__init__", fake_init)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fake_fail)
    with pytest.raises(Captured):
        module.main()
    assert failed == {"msg": basic.missing_required_lib("cryptography"),
                      "exception": "ModuleNotFoundError: No module named 'cryptography'"}
