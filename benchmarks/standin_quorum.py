#!/usr/bin/env python3
"""Quorum-write throughput and latency of a 3-node mTLS stand-in cluster on loopback (W=2, N=3).

Usage: .venv/bin/python benchmarks/standin_quorum.py [--writes 2000] [--clients 8]
Prints writes/s and p50/p99 latency. A benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from standin.build import build  # noqa: E402
from tests.standin.cluster import AGENT, API_KEY, Cluster  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        binary = build(Path(tmp) / "ai-memory")
        cluster = Cluster(binary=binary, root=Path(tmp) / "cluster", catchup_secs=15).start()
        try:
            latencies: list[float] = []
            statuses: dict[int, int] = {}
            lock = threading.Lock()
            counter = iter(range(args.writes))

            def client(worker: int) -> None:
                node = cluster.nodes[worker % len(cluster.nodes)]
                conn = http.client.HTTPSConnection("127.0.0.1", node.port, context=node.client_ctx, timeout=10)
                headers = {"Content-Type": "application/json", "X-API-Key": API_KEY, "X-Agent-Id": f"{AGENT}-{worker}"}
                while True:
                    with lock:
                        n = next(counter, None)
                    if n is None:
                        break
                    body = json.dumps({"title": f"bench-{n}", "content": f"payload {n}", "namespace": "bench",
                                       "scope": "collective"})
                    start = time.perf_counter()
                    conn.request("POST", "/api/v1/memories", body=body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    elapsed = (time.perf_counter() - start) * 1000
                    with lock:
                        latencies.append(elapsed)
                        statuses[resp.status] = statuses.get(resp.status, 0) + 1
                conn.close()

            threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - start
        finally:
            cluster.stop()
    q = statistics.quantiles(latencies, n=100)
    print(f"writes={len(latencies)} clients={args.clients} statuses={statuses}")
    print(f"throughput={len(latencies) / wall:.1f} quorum writes/s  p50={q[49]:.1f} ms  p99={q[98]:.1f} ms")


if __name__ == "__main__":
    main()
