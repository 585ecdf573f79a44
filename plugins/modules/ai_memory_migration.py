#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_memory_migration
short_description: Run ship-gate phase 3 (SQLite to PostgreSQL and back) on the host, recording every step
description:
  - Runs on a host that has the ai-memory binary and reaches the PostgreSQL database O(pg_url). Seeds O(count)
    memories into a fresh SQLite file through a throw-away loopback daemon and C(POST /api/v1/memories/bulk),
    migrates the namespace to PostgreSQL with C(ai-memory migrate), reads PostgreSQL's row count and a digest of
    the whole rows, migrates again and reads them again, migrates back into a fresh SQLite file, and lists both
    SQLite files with the binary's CLI so every memory can be compared field by field.
  - Every step is appended to O(history) (process C(migration)); M(aimemory.swarm.history_check) with kind
    C(migration) judges it. A step that fails is recorded, not raised, so the evidence says what broke.
  - The seed daemon is a child of this module and is always stopped (SIGINT, then SIGKILL after 30 s).
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
requirements:
  - httpx (Debian C(python3-httpx)) on the host that runs the module
  - python3-psycopg on the host (reads PostgreSQL's state)
  - cryptography (Debian C(python3-cryptography)) on the host, when O(agent_key) is set (a signed seed)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  binary:
    description: The ai-memory binary on the host.
    type: path
    default: /usr/local/bin/ai-memory
  workdir:
    description: Directory for the SQLite files, the seed daemon's home and log; must not hold an earlier run.
    type: path
    required: true
  pg_url:
    description:
      - PostgreSQL URL the migration writes to and reads from, C(postgres://user@host:5432/db?sslmode=verify-full&...)
        (libpq parameters pass through). Prefer certificate authentication; a password in it is never returned.
    type: str
    required: true
  namespace:
    description: Namespace of the seeded memories; only it is migrated and judged (a fresh one per run).
    type: str
    required: true
  count:
    description: Memories to seed.
    type: int
    default: 1000
  agent_id:
    description: C(X-Agent-Id) of the seed writes.
    type: str
    default: ai:swarm-certifier
  agent_key:
    description:
      - Private key (PEM) of O(agent_id) on the host. With O(signature_scheme), the agent is registered and this
        key bound in the fresh seed database (C(ai-memory agents register), C(agents bind-key)) and every seeded
        row is signed (agent attestation). The key is never returned or recorded (its key id is).
    type: path
  signature_scheme:
    description: How the release signs a write (see the endpoint options); unset, the seed is not signed.
    type: str
    choices: [ai-memory/write/v1, ai-memory/write/v0]
  posture_env:
    description:
      - Environment of the seed daemon and the CLI that sets the campaign's write-attestation posture (for example
        C(AI_MEMORY_REQUIRE_AGENT_ATTESTATION=0)); empty runs the release's default posture.
    type: dict
    default: {}
  precision:
    description:
      - Precision the release keeps times at across its backends (the release table's
        C(cross_backend_time_precision)); the round trip is compared at it.
    type: str
    choices: [microsecond, nanosecond]
    default: microsecond
  history:
    description: History file (JSONL) on the host.
    type: path
    required: true
attributes:
  check_mode:
    description: Does nothing in check mode.
    support: full
  diff_mode:
    support: none
seealso:
  - module: aimemory.swarm.history_check
"""

EXAMPLES = r"""
- name: Run phase 3 on the PostgreSQL host
  aimemory.swarm.ai_memory_migration:
    workdir: /var/lib/aimemory-checks/c1/phase3
    pg_url: >-
      postgres://ai_memory@10.250.0.14:5432/ai_memory_phase3?sslmode=verify-full&sslrootcert=/etc/ai-memory/tls/ca.pem&sslcert=/etc/ai-memory/tls/client.pem&sslkey=/etc/ai-memory/tls/client.key
    namespace: p3-c1
    history: /var/lib/aimemory-checks/c1/phase3.jsonl
"""

RETURN = r"""
history:
  description: Path of the history file.
  returned: always
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    HAS_HTTPX,
    HTTPX_IMPORT_ERROR,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.migration import Migration, MigrationError


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            binary=dict(type="path", default="/usr/local/bin/ai-memory"),
            workdir=dict(type="path", required=True),
            pg_url=dict(type="str", required=True, no_log=True),
            namespace=dict(type="str", required=True),
            count=dict(type="int", default=1000),
            agent_id=dict(type="str", default="ai:swarm-certifier"),
            agent_key=dict(type="path", no_log=False),
            signature_scheme=dict(type="str", choices=["ai-memory/write/v1", "ai-memory/write/v0"]),
            posture_env=dict(type="dict", default={}),
            precision=dict(type="str", choices=["microsecond", "nanosecond"], default="microsecond"),
            history=dict(type="path", required=True),
        ),
        required_together=[("agent_key", "signature_scheme")],
        supports_check_mode=True,
    )
    if not HAS_HTTPX:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    if module.params.get("agent_key") and not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    p = module.params
    if p["count"] < 1:
        module.fail_json(msg="count must be >= 1")
    if not os.access(p["binary"], os.X_OK):
        module.fail_json(msg=f"binary {p['binary']} is not an executable file")
    if not p["pg_url"].startswith(("postgres://", "postgresql://")):
        module.fail_json(msg="pg_url must be a postgres:// or postgresql:// URL")
    if module.check_mode:
        module.exit_json(changed=False, history=p["history"])
    os.makedirs(p["workdir"], mode=0o700, exist_ok=True)
    run = Migration(p["binary"], p["workdir"], p["pg_url"], p["namespace"], History(p["history"]), p["agent_id"],
                    p["count"], agent_key=p["agent_key"], signature_scheme=p["signature_scheme"],
                    posture_env={str(k): str(v) for k, v in (p["posture_env"] or {}).items()},
                    precision=p["precision"])
    try:
        run.run()
    except MigrationError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=True, history=p["history"])


if __name__ == "__main__":
    main()
