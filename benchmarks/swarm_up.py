#!/usr/bin/env python3
"""Cold (image bake included) and warm swarm-up + deploy times of the local provider.

Usage (root): .venv/bin/python benchmarks/swarm_up.py [--cold] [--with-postgres]
Warm: validate + provision + deploy (playbooks/converge.yml) with the image already baked, then teardown.
Cold: the same after removing the baked image, so the bake is included. By default the campaign declares only
the checks that need no PostgreSQL (the swarm of peers and the client); --with-postgres also deploys role
postgres_age and the PostgreSQL-backed node on the pg host. Prints seconds; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
IMAGES = Path("/var/lib/aimemory-swarm/images")
RUNNING = Path("/run/aimemory-swarm")


def timed(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([PLAYBOOK, *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", action="store_true", help="remove the baked image first")
    parser.add_argument("--with-postgres", action="store_true", help="also deploy PostgreSQL and the S5 node")
    args = parser.parse_args()
    if args.cold and RUNNING.is_dir() and any(RUNNING.iterdir()):
        # the hosts of a running swarm boot from the baked image: removing it under them breaks that swarm
        sys.exit(f"--cold removes the baked image, but swarms are running on it: {sorted(os.listdir(RUNNING))}")
    if args.cold and IMAGES.exists():
        shutil.rmtree(IMAGES)
    cid = f"bench-{os.getpid()}"
    try:
        scope = [] if args.with_postgres else [
            "-e", '{"campaign_checks": ["s1_quorum_write", "s2_quorum_not_met", "s3_mtls_allowlist", '
                  '"s4_partition_convergence"], "campaign_phases": ["phase1", "phase2", "phase4"]}']
        up = timed("playbooks/converge.yml", "-e", f"campaign_id={cid}", "-e", "campaign_keep=true", *scope)
        what = "with PostgreSQL + AGE and the S5 node" if args.with_postgres else "peers and client"
        print(f"{'cold' if args.cold else 'warm'} swarm up and deployed (5 hosts, W=2 of N=3, mTLS, {what}): "
              f"{up:.1f} s")
    finally:
        down = timed("playbooks/teardown.yml", "-e", f"campaign_id={cid}")
        print(f"teardown: {down:.1f} s")


if __name__ == "__main__":
    main()
