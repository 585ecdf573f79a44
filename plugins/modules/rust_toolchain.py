#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: rust_toolchain
short_description: Choose the installed Rust toolchain that satisfies a crate's rust-version, or refuse
description:
  - Lists the toolchains rustup has installed, asks each one's C(rustc -vV), and chooses one whose release is at
    least O(rust_version) (cargo's rule; a nightly 1.97 satisfies 1.96). Releases are preferred to beta and
    nightly toolchains, and among equals the newest wins.
  - When none satisfies it, fails with a message naming the requirement and every installed toolchain, unless
    O(install=true), in which case rustup installs O(rust_version) (as x.y.z, profile minimal) and that is used.
  - Never suggests or passes C(--ignore-rust-version).
version_added: 0.2.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  rust_version:
    description: The crate's C(rust-version) (from its Cargo.toml), such as C(1.96).
    type: str
    required: true
  toolchain:
    description: C(auto) to choose among the installed toolchains, or the name of one (C(nightly), C(1.96.0),
      with or without its host triple), which must then satisfy O(rust_version) too.
    type: str
    default: auto
  install:
    description: Install O(rust_version) with rustup when no installed toolchain satisfies it (needs network).
    type: bool
    default: false
  cargo_home:
    description: CARGO_HOME (rustup, cargo and rustc proxies are in its C(bin)).
    type: path
    required: true
  rustup_home:
    description: RUSTUP_HOME.
    type: path
    required: true
  timeout:
    description: Seconds each rustup or rustc call may take (an install gets ten times this).
    type: float
    default: 60
attributes:
  check_mode:
    description: Lists and chooses; never installs (reports C(changed) when it would).
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Choose a toolchain for ai-memory 0.7.0 (rust-version 1.96)
  aimemory.swarm.rust_toolchain:
    rust_version: "1.96"
    cargo_home: /root/.cargo
    rustup_home: /root/.rustup
  register: toolchain
"""

RETURN = r"""
toolchain:
  description: The chosen toolchain.
  returned: success
  type: dict
  sample: {"name": "nightly-x86_64-unknown-linux-gnu", "short_name": "nightly", "release": "1.97.0-nightly",
           "rustc": "rustc 1.97.0-nightly (1b2c3d4e5 2026-05-30)", "commit_hash": "1b2c3d4e5...",
           "host": "x86_64-unknown-linux-gnu"}
installed:
  description: Every installed toolchain with its release (or why it could not be read).
  returned: always
  type: list
  elements: str
  sample: ["stable (1.95.0)", "nightly (1.97.0-nightly)", "1.95.0 (1.95.0)"]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._build.rust import (
    Toolchain,
    Version,
    choose,
    parse_rustc_vv,
    parse_toolchain_list,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._process import run


def _as_dict(t: Toolchain) -> dict[str, str]:
    return {"name": t.name, "short_name": t.short_name, "release": str(t.release), "rustc": t.rustc,
            "commit_hash": t.commit_hash, "host": t.host}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            rust_version=dict(type="str", required=True),
            toolchain=dict(type="str", default="auto"),
            install=dict(type="bool", default=False),
            cargo_home=dict(type="path", required=True),
            rustup_home=dict(type="path", required=True),
            timeout=dict(type="float", default=60),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        required = Version.parse(p["rust_version"])
    except ValueError as exc:
        module.fail_json(msg=f"rust_version: {exc}")
    env = dict(os.environ, CARGO_HOME=p["cargo_home"], RUSTUP_HOME=p["rustup_home"],
               PATH=f"{p['cargo_home']}/bin:{os.environ.get('PATH', '/usr/bin:/bin')}")
    rustup = os.path.join(p["cargo_home"], "bin", "rustup")
    rustc = os.path.join(p["cargo_home"], "bin", "rustc")

    def installed() -> list[Toolchain]:
        if not os.path.exists(rustup):
            return []
        listed = run([rustup, "toolchain", "list"], timeout=p["timeout"], env=env)
        if not listed.ok:
            module.fail_json(msg=f"cannot list the Rust toolchains: {listed.why()}")
        found = []
        for name in parse_toolchain_list(listed.stdout):
            vv = run([rustc, f"+{name}", "-vV"], timeout=p["timeout"], env=env)
            found.append(parse_rustc_vv(name, vv.stdout) if vv.ok else Toolchain(name, None, problem=vv.why()))
        return found

    toolchains = installed()
    choice = choose(toolchains, required, p["toolchain"])
    seen = [t.describe() for t in toolchains]
    if choice.toolchain is not None:
        module.exit_json(changed=False, toolchain=_as_dict(choice.toolchain), installed=seen)
    if not p["install"]:
        module.fail_json(msg=choice.refusal("the crate"), installed=seen)
    target = p["toolchain"] if p["toolchain"] != "auto" else ".".join(str(n) for n in required.triple)
    if module.check_mode:
        module.exit_json(changed=True, toolchain={"name": target, "short_name": target}, installed=seen,
                         msg=f"would install Rust {target} with rustup")
    if not os.path.exists(rustup):
        module.fail_json(msg=f"no rustup at {rustup}: install rustup first (the build role does)", installed=seen)
    done = run([rustup, "toolchain", "install", target, "--profile", "minimal"], timeout=p["timeout"] * 10,
               env=env)
    if not done.ok:
        module.fail_json(msg=f"installing Rust {target} failed: {done.why()}", installed=seen)
    choice = choose(installed(), required, target)
    if choice.toolchain is None:
        module.fail_json(msg=choice.refusal("the crate"), installed=seen)
    module.exit_json(changed=True, toolchain=_as_dict(choice.toolchain), installed=seen)


if __name__ == "__main__":
    main()
