#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: cargo_build
short_description: Build a Rust binary with cargo as a watched job with a deadline, printing its progress
description:
  - Runs C(cargo +<toolchain> build --release --bin <bin> --locked [--offline] [--features ...]) in O(tree) with
    cargo's JSON messages, detached and owned by C(timeout) (O(timeout) seconds, then killed).
  - Its action plugin starts the job, polls it, prints the progress (crates compiled of the total cargo resolved,
    elapsed time) at least every O(report_every) seconds while cargo runs, and stops the job when the task is
    interrupted or its deadline passes. A rerun while the same job still runs attaches to it.
  - Never passes C(--ignore-rust-version); choose the toolchain with M(aimemory.swarm.rust_toolchain).
version_added: 0.2.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  tree:
    description: The crate's source tree (Cargo.toml at its root).
    type: path
    required: true
  bin:
    description: Binary target to build.
    type: str
    default: ai-memory
  features:
    description: Cargo features.
    type: list
    elements: str
    default: []
  toolchain:
    description: Toolchain name for C(cargo +<toolchain>).
    type: str
    required: true
  offline:
    description: Build with C(--offline) (the tree's dependencies are vendored).
    type: bool
    default: true
  profile_env:
    description: Environment overriding the release profile, for example C(CARGO_PROFILE_RELEASE_LTO=off).
    type: dict
    default: {}
  target_dir:
    description: CARGO_TARGET_DIR (kept between builds).
    type: path
    required: true
  job_dir:
    description: Directory of this build's job files (messages, log, exit code).
    type: path
    required: true
  cargo_home:
    description: CARGO_HOME.
    type: path
    required: true
  rustup_home:
    description: RUSTUP_HOME.
    type: path
    required: true
  host_triple:
    description: The host triple of the toolchain (for the crate count).
    type: str
    default: x86_64-unknown-linux-gnu
  timeout:
    description: Seconds the build may take before it is killed.
    type: int
    default: 3600
  report_every:
    description: Seconds between two progress lines (action plugin).
    type: int
    default: 15
  mode:
    description: What the module does; the action plugin drives C(start), C(status) and C(stop).
    type: str
    choices: [start, status, stop]
    default: start
attributes:
  check_mode:
    description: Builds nothing; reports that it would build.
    support: full
  diff_mode:
    support: none
  action:
    description: The action plugin watches the job and prints progress on the controller.
    support: full
"""

EXAMPLES = r"""
- name: Build ai-memory 0.7.0, vendored, with nightly
  aimemory.swarm.cargo_build:
    tree: /var/lib/aimemory-build/src/ai-memory-0.7.0
    features: [sal-postgres]
    toolchain: nightly
    profile_env: {CARGO_PROFILE_RELEASE_LTO: "off", CARGO_PROFILE_RELEASE_CODEGEN_UNITS: "16"}
    target_dir: /var/lib/aimemory-build/target
    job_dir: /var/lib/aimemory-build/jobs/ai-memory-0.7.0
    cargo_home: /root/.cargo
    rustup_home: /root/.rustup
"""

RETURN = r"""
binary:
  description: Path of the built binary.
  returned: success
  type: str
  sample: /var/lib/aimemory-build/target/release/ai-memory
cargo_args:
  description: The cargo arguments (after C(cargo +<toolchain>)).
  returned: success
  type: list
  elements: str
compiled:
  description: Packages compiled (or found fresh) by the end.
  returned: success
  type: int
total:
  description: Packages in the resolved graph for this host and these features.
  returned: success
  type: int
seconds:
  description: Wall time of the build.
  returned: success
  type: float
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._build.cargo import (
    package_total,
    read_job,
    start,
    status,
    stop,
)


def cargo_args(p: dict) -> list[str]:
    args = ["build", "--release", "--bin", p["bin"], "--locked", "--message-format=json-render-diagnostics"]
    if p["offline"]:
        args.append("--offline")
    if p["features"]:
        args += ["--features", ",".join(p["features"])]
    return args


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            tree=dict(type="path", required=True),
            bin=dict(type="str", default="ai-memory"),
            features=dict(type="list", elements="str", default=[]),
            toolchain=dict(type="str", required=True),
            offline=dict(type="bool", default=True),
            profile_env=dict(type="dict", default={}),
            target_dir=dict(type="path", required=True),
            job_dir=dict(type="path", required=True),
            cargo_home=dict(type="path", required=True),
            rustup_home=dict(type="path", required=True),
            host_triple=dict(type="str", default="x86_64-unknown-linux-gnu"),
            timeout=dict(type="int", default=3600),
            report_every=dict(type="int", default=15),
            mode=dict(type="str", choices=["start", "status", "stop"], default="start"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if module.check_mode:
        module.exit_json(changed=True, msg=f"would build {p['bin']} in {p['tree']} with {p['toolchain']}")
    if p["mode"] == "stop":
        module.exit_json(changed=stop(p["job_dir"]))
    if p["mode"] == "status":
        st = status(p["job_dir"])
        binary = os.path.join(p["target_dir"], "release", p["bin"])
        module.exit_json(changed=False, binary=binary, cargo_args=cargo_args(p), **st)
    env = {"HOME": os.environ.get("HOME", "/root"), "CARGO_HOME": p["cargo_home"], "RUSTUP_HOME": p["rustup_home"],
           "CARGO_TARGET_DIR": p["target_dir"], "CARGO_TERM_COLOR": "never",
           "PATH": f"{p['cargo_home']}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    env.update({str(k): str(v) for k, v in p["profile_env"].items()})
    cargo = [os.path.join(p["cargo_home"], "bin", "cargo"), f"+{p['toolchain']}"]
    argv = [*cargo, *cargo_args(p)]
    job = read_job(p["job_dir"])
    st = status(p["job_dir"]) if job else None
    if job and st and st["running"] and job.get("argv") == argv:
        module.exit_json(changed=True, attached=True, **st)
    total = package_total(cargo, p["tree"], p["features"], env, 300, p["offline"], p["host_triple"])
    start(p["job_dir"], argv, p["tree"], env, p["timeout"], total)
    module.exit_json(changed=True, attached=False, **status(p["job_dir"]))


if __name__ == "__main__":
    main()
