# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""A cargo build as a job the controller can watch: started detached with its deadline (``timeout``), its JSON
messages streamed to a file, its progress (crates compiled / total) read from that file, stopped on demand.

Job directory layout: ``job.json`` (argv, start time, deadline, total), ``messages.jsonl`` (cargo's
``--message-format=json-render-diagnostics`` stdout), ``build.log`` (the rendered diagnostics, stderr) and ``rc``
(written when cargo has ended, 124 when the deadline killed it). The process group of the job is owned by
``timeout``; ``stop`` kills the group.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import time
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._process import run, spawn_detached


def package_total(cargo: list[str], tree: str, features: list[str], env: dict[str, str], timeout: float,
                  offline: bool, host: str) -> int | None:
    """How many packages the build compiles: the distinct packages of ``cargo tree`` over normal and build
    dependencies, for this host and these features (cargo's own feature resolver, so the count matches the
    compiler-artifact messages of the build)."""
    argv = [*cargo, "tree", "--locked", "-e", "normal,build", "--prefix", "none", "-f", "{p}", "--target", host]
    if offline:
        argv.append("--offline")
    if features:
        argv += ["--features", ",".join(features)]
    done = run(argv, timeout=timeout, env=env, cwd=tree)
    if not done.ok:
        return None
    packages = {line.replace(" (*)", "").replace(" (proc-macro)", "").strip() for line in done.stdout.splitlines()}
    packages.discard("")
    return len(packages) or None


def start(job_dir: str, argv: list[str], tree: str, env: dict[str, str], deadline_s: float,
          total: int | None) -> dict[str, Any]:
    """Start the build detached; ``timeout`` owns it and kills it at the deadline."""
    os.makedirs(job_dir, mode=0o755, exist_ok=True)
    for name in ("messages.jsonl", "build.log", "rc"):
        if os.path.exists(os.path.join(job_dir, name)):
            os.unlink(os.path.join(job_dir, name))
    inner = " ".join(shlex.quote(a) for a in ["timeout", "--kill-after=30", str(int(deadline_s)), *argv])
    script = (f"cd {shlex.quote(tree)} && {inner} >{shlex.quote(job_dir)}/messages.jsonl "
              f"2>{shlex.quote(job_dir)}/build.log; echo $? >{shlex.quote(job_dir)}/rc.tmp && "
              f"mv {shlex.quote(job_dir)}/rc.tmp {shlex.quote(job_dir)}/rc")
    env_prefix = ["env", "-i", *[f"{k}={v}" for k, v in sorted(env.items())]]
    pid = spawn_detached([*env_prefix, "sh", "-c", script], log_path=os.path.join(job_dir, "job.log"))
    job = {"pid": pid, "argv": argv, "tree": tree, "started": time.time(), "deadline_s": deadline_s,
           "total": total}
    with open(os.path.join(job_dir, "job.json.tmp"), "w") as fh:
        json.dump(job, fh)
    os.replace(os.path.join(job_dir, "job.json.tmp"), os.path.join(job_dir, "job.json"))
    return job


def read_job(job_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(job_dir, "job.json")) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status(job_dir: str) -> dict[str, Any]:
    """Progress of the job: packages compiled (distinct package ids of compiler-artifact messages, fresh ones
    included), the last one, whether cargo said the build finished, the exit code once written."""
    job = read_job(job_dir) or {}
    compiled: set[str] = set()
    last, finished_ok, errors = "", None, []
    try:
        with open(os.path.join(job_dir, "messages.jsonl"), "rb") as fh:
            for raw in fh:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                reason = msg.get("reason")
                if reason == "compiler-artifact":
                    compiled.add(msg.get("package_id", ""))
                    last = (msg.get("target") or {}).get("name", last)
                elif reason == "build-finished":
                    finished_ok = bool(msg.get("success"))
                elif reason == "compiler-message" and (msg.get("message") or {}).get("level") == "error":
                    errors.append(((msg.get("message") or {}).get("rendered") or "")[-800:])
    except OSError:
        pass
    rc = None
    try:
        with open(os.path.join(job_dir, "rc")) as fh:
            rc = int(fh.read().strip() or "1")
    except (OSError, ValueError):
        pass
    running = rc is None and bool(job.get("pid")) and _alive(int(job["pid"]))
    log_tail = ""
    if rc not in (None, 0):
        try:
            with open(os.path.join(job_dir, "build.log"), "rb") as fh:
                fh.seek(max(0, os.path.getsize(fh.name) - 3000))
                log_tail = fh.read().decode("utf-8", "replace")
        except OSError:
            pass
    return {"running": running, "finished": rc is not None or not running, "rc": rc, "success": finished_ok,
            "compiled": len(compiled), "total": job.get("total"), "last": last,
            "elapsed_s": round(time.time() - float(job.get("started", time.time())), 1),
            "errors": errors[-5:], "log_tail": log_tail, "timed_out": rc == 124}


def stop(job_dir: str) -> bool:
    """Kill the job's process group; True when something was running."""
    job = read_job(job_dir) or {}
    pid = int(job.get("pid") or 0)
    if not pid or not _alive(pid):
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if not _alive(pid):
            return True
    return True
