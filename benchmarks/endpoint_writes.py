#!/usr/bin/env python3
"""Quorum writes through the check modules' own client: the phase 2 / phase 4 write workload
(``_workload.writes.WriteWorkload`` over ``_endpoint.Endpoint``, one keep-alive client per worker and leader,
every write an invoke and a completion in a history) against a 3-node mTLS stand-in cluster on loopback (W=2).

Usage: .venv/bin/python benchmarks/endpoint_writes.py [--writes 2000] [--clients 4] [--agents 4] [--stagger 0]
                                                     [--repeat 1]
The defaults are phase 2's burst (four agents, one writer each, unpaced, through every peer); ``--stagger 0.1``
paces each writer as phase 4's kill cycle does. Prints writes/s, p50/p99 of the latency each completion records and
the client's CPU time per write. A benchmark, not a test: nothing is asserted.
``benchmarks/standin_quorum.py`` measures the stand-in with a bare http.client loop; this one measures what a
campaign's workload reaches.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / ".collections")]

from ansible_collections.aimemory.swarm.plugins.module_utils._history import History  # noqa: E402
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.writes import WriteWorkload  # noqa: E402

from standin.build import build  # noqa: E402
from tests.standin.cluster import AGENT, API_KEY, Cluster  # noqa: E402


def run_once(cluster: Cluster, tmp: Path, round_no: int, writes: int, clients: int, agents: int,
             stagger: float) -> tuple[float, ...]:
    history = History(str(tmp / f"writes-{round_no}.jsonl"))
    endpoint_args = {"api_key": API_KEY, "agent_id": AGENT, "ca_cert": str(cluster.ca.path),
                     "client_cert": str(cluster.client.cert), "client_key": str(cluster.client.key), "timeout": 10.0}
    workload = WriteWorkload(history, [(n.name, n.url) for n in cluster.nodes], endpoint_args,
                             namespace=f"bench-{round_no}", prefix="w",
                             agents=[f"{AGENT}-{i}" for i in range(agents)] or None)
    cpu = time.process_time()
    result = workload.run(writes, concurrency=clients, stagger_s=stagger)
    cpu_ms = (time.process_time() - cpu) * 1000 / max(1, result["attempted"])
    with open(history.path) as fh:
        ops = [json.loads(line) for line in fh]
    latencies = [float(op["latency_ms"]) for op in ops if op.get("type") != "invoke" and "latency_ms" in op]
    q = statistics.quantiles(latencies, n=100)
    rate = result["attempted"] / result["seconds"]
    print(f"round {round_no}: writes={result['attempted']} statuses={result['statuses']} errors={result['errors']}")
    print(f"round {round_no}: throughput={rate:.1f} quorum writes/s  p50={q[49]:.1f} ms  p99={q[98]:.1f} ms  "
          f"client cpu={cpu_ms:.2f} ms/write", flush=True)
    return rate, q[49], q[98], cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--agents", type=int, default=4, help="distinct X-Agent-Id, as phase 2 (0 = one agent)")
    parser.add_argument("--stagger", type=float, default=0.0, help="pause of each writer between writes (s)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds on the same cluster (median is printed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        binary = build(tmp / "ai-memory")
        cluster = Cluster(binary=binary, root=tmp / "cluster", catchup_secs=15).start()
        try:
            rounds = [run_once(cluster, tmp, i, args.writes, args.clients, args.agents, args.stagger)
                      for i in range(args.repeat)]
        finally:
            cluster.stop()
    if len(rounds) > 1:
        rate, p50, p99, cpu = (statistics.median(r[i] for r in rounds) for i in range(4))
        print(f"median of {len(rounds)}: throughput={rate:.1f} quorum writes/s  p50={p50:.1f} ms  p99={p99:.1f} ms  "
              f"client cpu={cpu:.2f} ms/write")


if __name__ == "__main__":
    main()
