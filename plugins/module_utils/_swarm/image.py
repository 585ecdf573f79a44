# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Bake a Debian trixie root filesystem once and reuse it until its recipe changes."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator

from ansible_collections.aimemory.swarm.plugins.module_utils._process import run

RECIPE_VERSION = 2
BASE_INCLUDE = ["systemd", "systemd-sysv", "dbus", "python3", "openssh-server", "iproute2", "ca-certificates"]
PACKAGES = [
    "python3-cryptography", "python3-psycopg", "python3-apt", "python3-httpx", "nftables", "iptables", "procps", "sudo",
    "sqlite3", "curl", "faketime", "libfaketime", "postgresql-17", "postgresql-17-pgvector", "postgresql-17-age",
]
MARKER = "aimemory-image.json"


def recipe(suite: str, mirror: str, extra: list[str]) -> dict[str, object]:
    return {"version": RECIPE_VERSION, "suite": suite, "mirror": mirror, "include": BASE_INCLUDE,
            "packages": sorted(set(PACKAGES) | set(extra))}


def recipe_hash(rec: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(rec, sort_keys=True).encode()).hexdigest()


def image_dir(store: str, suite: str, digest: str) -> str:
    return os.path.join(store, f"{suite}-{digest[:12]}")


def is_baked(path: str, digest: str) -> bool:
    try:
        with open(os.path.join(path, MARKER)) as fh:
            return json.load(fh).get("hash") == digest
    except (OSError, ValueError):
        return False


def default_mirror(sources_dir: str = "/etc/apt") -> str:
    """The Debian mirror this machine's apt uses (only Debian's registry is reachable)."""
    candidates = [os.path.join(sources_dir, "sources.list")]
    parts = os.path.join(sources_dir, "sources.list.d")
    if os.path.isdir(parts):
        candidates += [os.path.join(parts, f) for f in sorted(os.listdir(parts))]
    for path in candidates:
        try:
            with open(path) as fh:
                text = fh.read()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1].rstrip("/")
            if line.startswith("deb ") and "security" not in line:
                return next(w for w in line.split() if "://" in w).rstrip("/")
    return "http://deb.debian.org/debian"


def _run(cmd: list[str], log: list[str]) -> None:
    done = run(cmd, timeout=1200)
    log.append(f"$ {' '.join(cmd)}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    if not done.ok:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed ({done.why()[:200]}): {done.stderr[-1500:]}")


CHROOT_MOUNTS = (("proc", "proc", "proc"), ("sysfs", "sys", "sysfs"), ("/dev", "dev", None))


BAKE_LOCK = "/run/lock/aimemory-swarm-image-bake.lock"
BAKE_LOCK_DEADLINE_S = 1800.0


@contextlib.contextmanager
def bake_lock(path: str = BAKE_LOCK, deadline_s: float = BAKE_LOCK_DEADLINE_S) -> Iterator[None]:
    """One bake at a time on this machine (campaigns and test fixtures alike), with a deadline on the wait."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    stop_at = time.monotonic() + deadline_s
    with open(path, "a") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= stop_at:
                    raise RuntimeError(f"another image bake held {path} for more than {deadline_s:g} s") from None
                time.sleep(1.0)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def bake(store: str, suite: str, mirror: str, extra: list[str]) -> tuple[str, str, float, list[str]]:
    """Build the image into a temporary directory and rename it into place only when complete; concurrent
    callers wait for each other (the second one finds the image baked)."""
    rec = recipe(suite, mirror, extra)
    digest = recipe_hash(rec)
    final = image_dir(store, suite, digest)
    if is_baked(final, digest):
        return final, digest, 0.0, []
    with bake_lock():
        if is_baked(final, digest):
            return final, digest, 0.0, []
        return _bake(store, rec, digest, final)


def _bake(store: str, rec: dict[str, object], digest: str, final: str) -> tuple[str, str, float, list[str]]:
    suite, mirror = str(rec["suite"]), str(rec["mirror"])
    log: list[str] = []
    start = time.monotonic()
    os.makedirs(store, exist_ok=True)
    work = f"{final}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    mounted: list[str] = []
    try:
        _run(["debootstrap", "--variant=minbase", "--include=" + ",".join(BASE_INCLUDE), suite, work, mirror], log)
        with open(os.path.join(work, "usr/sbin/policy-rc.d"), "w") as fh:
            fh.write("#!/bin/sh\nexit 101\n")  # no service starts inside the chroot
        os.chmod(os.path.join(work, "usr/sbin/policy-rc.d"), 0o755)
        for source, target, fstype in CHROOT_MOUNTS:
            path = os.path.join(work, target)
            cmd = ["mount", "--bind", source, path] if fstype is None else ["mount", "-t", fstype, source, path]
            _run(cmd, log)
            mounted.append(path)
        env_apt = ["env", "DEBIAN_FRONTEND=noninteractive", "chroot", work]
        _run([*env_apt, "apt-get", "install", "-y", "-q", "--no-install-recommends", *rec["packages"]], log)
        # postgresql runs only where the postgres role enables it; ssh everywhere
        _run(["chroot", work, "systemctl", "disable", "postgresql.service"], log)
        _run(["chroot", work, "systemctl", "enable", "ssh.service"], log)
        _run(["chroot", work, "apt-get", "clean"], log)
    finally:
        for path in reversed(mounted):
            run(["umount", "-l", path], timeout=60)
    for name in os.listdir(os.path.join(work, "etc/ssh")):
        if name.startswith("ssh_host_"):
            os.unlink(os.path.join(work, "etc/ssh", name))
    os.unlink(os.path.join(work, "usr/sbin/policy-rc.d"))
    with open(os.path.join(work, "etc/machine-id"), "w"):
        pass
    os.makedirs(os.path.join(work, "root/.ssh"), mode=0o700, exist_ok=True)
    with open(os.path.join(work, MARKER), "w") as fh:
        json.dump({"hash": digest, "recipe": rec, "baked_at": time.time()}, fh)
    os.rename(work, final)
    return final, digest, time.monotonic() - start, log


def prune(store: str, keep: str) -> list[str]:
    """Remove other images; never a bake in progress (``<image>.partial-<pid>`` of a live process)."""
    removed = []
    if not os.path.isdir(store):
        return removed
    for name in os.listdir(store):
        path = os.path.join(store, name)
        pid = name.rsplit(".partial-", 1)[1] if ".partial-" in name else ""
        if pid.isdigit() and _alive(int(pid)):
            continue
        if path != keep and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
