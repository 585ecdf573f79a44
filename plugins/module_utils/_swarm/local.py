# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Local swarm: Debian hosts as systemd-nspawn containers, each in its own network namespace.

Every host has two interfaces: ``eth-pub`` on the "public" bridge (the controller holds the bridge's first
address and reaches hosts over SSH there) and ``eth-vpc`` on the "VPC" bridge (no controller address, as on
DigitalOcean). Every resource carries the campaign's short id: netns ``aimem-<sid>-<host>``, bridges
``am<sid>p``/``am<sid>v``, machines ``aimem-<sid>-<host>``, state in ``<state_dir>/<campaign_id>/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from ansible_collections.aimemory.swarm.plugins.module_utils._process import spawn_detached

Runner = Callable[[list[str]], tuple[int, str, str]]
HOST_OFFSET = 10
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,14}$")
BRIDGE_RE = re.compile(r"^am[0-9a-f]{6}[pv]$")
VETH_RE = re.compile(r"^am[0-9a-f]{6}[0-9a-f][pv]$")
STATE_FILE = "state.json"


class SwarmError(Exception):
    pass


def short_id(campaign_id: str) -> str:
    return hashlib.sha256(campaign_id.encode()).hexdigest()[:6]


def netns_name(sid: str, host: str) -> str:
    return f"aimem-{sid}-{host}"


def bridge_names(sid: str) -> tuple[str, str]:
    return f"am{sid}p", f"am{sid}v"


def veth_names(sid: str, index: int) -> tuple[str, str]:
    return f"am{sid}{index:x}p", f"am{sid}{index:x}v"


@dataclass
class HostPlan:
    name: str
    groups: list[str]
    index: int
    public_ip: str
    private_ip: str
    netns: str
    machine: str


def plan(campaign_id: str, hosts: list[dict[str, object]], public_subnet: str, vpc_subnet: str) -> list[HostPlan]:
    """Validate names and subnets and assign addresses (public .10+, VPC .10+)."""
    if not campaign_id:
        raise SwarmError("campaign_id is required")
    names = [str(h.get("name", "")) for h in hosts]
    bad = [n for n in names if not NAME_RE.match(n)]
    if bad:
        raise SwarmError(f"hosts: invalid host name(s) {bad} (lowercase letters, digits, '-', at most 15 characters)")
    if len(set(names)) != len(names):
        raise SwarmError(f"hosts: duplicate host names in {names}")
    if not hosts or len(hosts) > 15:
        raise SwarmError("hosts: between 1 and 15 hosts")
    nets = {}
    for option, value in (("public_subnet", public_subnet), ("vpc_subnet", vpc_subnet)):
        try:
            net = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise SwarmError(f"{option}={value} is not a valid IPv4 network: {exc}") from exc
        if net.version != 4 or net.num_addresses < HOST_OFFSET + len(hosts) + 2:
            raise SwarmError(f"{option}={value} must be IPv4 with room for {len(hosts)} hosts from .{HOST_OFFSET}")
        nets[option] = net
    if nets["public_subnet"].overlaps(nets["vpc_subnet"]):
        raise SwarmError(f"public_subnet={public_subnet} and vpc_subnet={vpc_subnet} overlap")
    sid = short_id(campaign_id)
    out = []
    for i, host in enumerate(hosts):
        groups = host.get("groups") or []
        out.append(HostPlan(
            name=names[i], groups=[str(g) for g in groups], index=i,  # type: ignore[union-attr]
            public_ip=str(nets["public_subnet"].network_address + HOST_OFFSET + i),
            private_ip=str(nets["vpc_subnet"].network_address + HOST_OFFSET + i),
            netns=netns_name(sid, names[i]), machine=netns_name(sid, names[i])))
    return out


def route_clashes(routes: list[dict[str, object]], subnets: dict[str, str], own_bridges: set[str]) -> list[str]:
    """Subnets that overlap an existing route of the controller (our own bridges' routes excepted)."""
    problems = []
    for option, value in subnets.items():
        net = ipaddress.ip_network(value)
        for route in routes:
            dst = str(route.get("dst", ""))
            if dst in ("", "default") or route.get("dev") in own_bridges:
                continue
            try:
                other = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
            except ValueError:
                continue
            if other.version == net.version and other.overlaps(net):
                problems.append(f"{option}={value} clashes with the existing route {dst} dev {route.get('dev')}; "
                                f"choose another {option}")
    return problems


def known_hosts_lines(hosts: list[HostPlan], pubkeys: dict[str, str]) -> list[str]:
    """Pin each host's ed25519 key to its public and private address."""
    return [f"{h.public_ip},{h.private_ip} {' '.join(pubkeys[h.name].split()[:2])}" for h in hosts]


def _owner_pid() -> int:
    """The topmost ansible-playbook process above us (its forked workers share its command line)."""
    pid, found = os.getppid(), 0
    for _step in range(64):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
        except OSError:
            break
        if any(part.endswith(b"ansible-playbook") for part in cmd[:2]):
            found = pid
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid <= 1:
            break
        pid = ppid
    return found or os.getppid()


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class LocalSwarm:
    def __init__(self, run: Runner, state_dir: str, campaign_id: str = "") -> None:
        self.run = run
        self.state_root = state_dir
        self.campaign_id = campaign_id
        self.sid = short_id(campaign_id) if campaign_id else ""
        self.dir = os.path.join(state_dir, campaign_id) if campaign_id else ""

    # --- helpers ---------------------------------------------------------------------------------
    def sh(self, cmd: list[str], check: bool = True) -> str:
        rc, out, err = self.run(cmd)
        if check and rc != 0:
            raise SwarmError(f"{' '.join(cmd)} failed (rc={rc}): {err.strip() or out.strip()}")
        return out

    def routes(self) -> list[dict[str, object]]:
        return json.loads(self.sh(["ip", "-j", "route", "show"]) or "[]")

    def load_state(self) -> dict[str, object] | None:
        try:
            with open(os.path.join(self.dir, STATE_FILE)) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return None

    def save_state(self, state: dict[str, object]) -> None:
        tmp = os.path.join(self.dir, STATE_FILE + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(state, fh, indent=2)
        os.replace(tmp, os.path.join(self.dir, STATE_FILE))

    def link_exists(self, name: str) -> bool:
        return self.run(["ip", "link", "show", "dev", name])[0] == 0

    def netns_list(self) -> list[str]:
        out = self.sh(["ip", "-j", "netns", "list"], check=False) or "[]"
        try:
            return [n["name"] for n in json.loads(out)]
        except ValueError:
            return []

    # --- health ----------------------------------------------------------------------------------
    @staticmethod
    def leader_pid(nspawn_pid: int) -> int | None:
        """The container's PID 1 (systemd), a child of systemd-nspawn. For a few ms at start that child is
        nspawn's own short-lived setup process: only a child that runs systemd counts."""
        try:
            children = open(f"/proc/{nspawn_pid}/task/{nspawn_pid}/children").read().split()
        except OSError:
            return None
        for child in children:
            try:
                with open(f"/proc/{child}/comm") as fh:
                    if fh.read().strip() == "systemd":
                        return int(child)
            except OSError:
                continue
        return None

    def system_state(self, leader: int) -> str:
        rc, out, _err = self.run(["nsenter", "-t", str(leader), "-a", "systemctl", "is-system-running"])
        return out.strip() or f"rc={rc}"

    @staticmethod
    def ssh_open(ip: str, timeout: float = 0.5) -> bool:
        try:
            with socket.create_connection((ip, 22), timeout=timeout) as sock:
                sock.settimeout(timeout)
                return sock.recv(4).startswith(b"SSH-")
        except OSError:
            return False

    def healthy(self, state: dict[str, object]) -> bool:
        for host in state.get("hosts", []):  # type: ignore[union-attr]
            if not pid_alive(int(host["nspawn_pid"])) or not self.ssh_open(host["public_ip"]):
                return False
        return True

    # --- bring up --------------------------------------------------------------------------------
    def up(self, hosts: list[HostPlan], image_dir: str, public_subnet: str, vpc_subnet: str, ssh_public_key: str,
           boot_timeout: float, keep: bool, lifetime_minutes: float) -> dict[str, object]:
        if not os.path.isfile(os.path.join(image_dir, "aimemory-image.json")):
            raise SwarmError(f"image_dir={image_dir} is not a baked image (run local_swarm_image first)")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        pub_br, vpc_br = bridge_names(self.sid)
        pub_net = ipaddress.ip_network(public_subnet)
        state: dict[str, object] = {
            "campaign_id": self.campaign_id, "sid": self.sid, "image_dir": image_dir, "bridges": [pub_br, vpc_br],
            "public_subnet": public_subnet, "vpc_subnet": vpc_subnet, "owner_pid": _owner_pid(), "keep": keep,
            "created_at": time.time(), "expires_at": time.time() + lifetime_minutes * 60, "hosts": []}
        self.save_state(state)
        gateway = f"{pub_net.network_address + 1}/{pub_net.prefixlen}"
        for bridge, address in ((pub_br, gateway), (vpc_br, None)):
            if not self.link_exists(bridge):
                self.sh(["ip", "link", "add", bridge, "type", "bridge"])
            if address:
                self.sh(["ip", "addr", "replace", address, "dev", bridge])
            self.sh(["ip", "link", "set", bridge, "up"])
        # Keep VPC-bound packets of the controller on this machine: a device route to the address-less VPC
        # bridge (hosts have no route back, so the controller still cannot talk to VPC addresses).
        self.sh(["ip", "route", "replace", vpc_subnet, "dev", vpc_br])
        pubkeys: dict[str, str] = {}
        records = []
        for host in hosts:
            pubkeys[host.name] = self._prepare_host(host, image_dir, pub_net.prefixlen,
                                                    ipaddress.ip_network(vpc_subnet).prefixlen, ssh_public_key)
            records.append(self._boot(host))
            state["hosts"] = records
            self.save_state(state)
        known = os.path.join(self.dir, "known_hosts")
        with open(known, "w") as fh:
            fh.write("\n".join(known_hosts_lines(hosts, pubkeys)) + "\n")
        self._wait(records, boot_timeout)
        state["known_hosts_file"] = known
        self.save_state(state)
        return state

    def _prepare_host(self, host: HostPlan, image_dir: str, pub_len: int, vpc_len: int, ssh_public_key: str) -> str:
        sid = self.sid
        base = os.path.join(self.dir, "hosts", host.name)
        upper, work, merged = (os.path.join(base, d) for d in ("upper", "work", "merged"))
        for d in (upper, work, merged):
            os.makedirs(d, exist_ok=True)
        if host.netns not in self.netns_list():
            self.sh(["ip", "netns", "add", host.netns])
        pub_veth, vpc_veth = veth_names(sid, host.index)
        for veth, inner, bridge, ip, plen in ((pub_veth, "eth-pub", bridge_names(sid)[0], host.public_ip, pub_len),
                                              (vpc_veth, "eth-vpc", bridge_names(sid)[1], host.private_ip, vpc_len)):
            if not self.link_exists(veth):
                self.sh(["ip", "link", "add", veth, "type", "veth", "peer", "name", inner, "netns", host.netns])
            self.sh(["ip", "link", "set", veth, "master", bridge, "up"])
            self.sh(["ip", "-n", host.netns, "addr", "replace", f"{ip}/{plen}", "dev", inner])
            self.sh(["ip", "-n", host.netns, "link", "set", inner, "up"])
        self.sh(["ip", "-n", host.netns, "link", "set", "lo", "up"])
        if not os.path.ismount(merged):
            self.sh(["mount", "-t", "overlay", "overlay", "-o",
                     f"lowerdir={image_dir},upperdir={upper},workdir={work}", merged])
        key = os.path.join(base, "ssh_host_ed25519_key")
        if not os.path.exists(key):
            self.sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host.name}", "-f", key])
        etc = os.path.join(merged, "etc")
        for name in ("ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"):
            shutil.copyfile(os.path.join(base, name), os.path.join(etc, "ssh", name))
        os.chmod(os.path.join(etc, "ssh", "ssh_host_ed25519_key"), 0o600)
        with open(os.path.join(etc, "ssh", "sshd_config.d", "aimemory.conf"), "w") as fh:
            fh.write("HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\n"
                     "PermitRootLogin prohibit-password\nUseDNS no\n")
        with open(os.path.join(etc, "hostname"), "w") as fh:
            fh.write(host.name + "\n")
        with open(os.path.join(etc, "hosts"), "w") as fh:
            fh.write(f"127.0.0.1 localhost\n{host.private_ip} {host.name}\n")
        with open(os.path.join(etc, "machine-id"), "w") as fh:
            fh.write(hashlib.sha256(f"{self.campaign_id}/{host.name}".encode()).hexdigest()[:32] + "\n")
        ssh_dir = os.path.join(merged, "root", ".ssh")
        os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
        with open(os.path.join(ssh_dir, "authorized_keys"), "w") as fh:
            fh.write(ssh_public_key.strip() + "\n")
        os.chmod(os.path.join(ssh_dir, "authorized_keys"), 0o600)
        with open(os.path.join(base, "ssh_host_ed25519_key.pub")) as fh:
            return fh.read().strip()

    def _boot(self, host: HostPlan) -> dict[str, object]:
        base = os.path.join(self.dir, "hosts", host.name)
        # the container outlives this module: its owner is the state file (teardown, the reaper, the sweep)
        pid = spawn_detached(
            ["systemd-nspawn", "-q", "-D", os.path.join(base, "merged"), "--boot", "--register=no", "--keep-unit",
             f"--network-namespace-path=/run/netns/{host.netns}", "-M", host.machine, "--console=passive",
             # nftables inside the host's own network namespace (the partition nemesis)
             "--capability=CAP_NET_ADMIN"],
            log_path=os.path.join(base, "console.log"))
        return {**asdict(host), "nspawn_pid": pid, "leader_pid": None}

    def _wait(self, records: list[dict[str, object]], boot_timeout: float) -> None:
        deadline = time.monotonic() + boot_timeout
        pending = {r["name"]: r for r in records}
        states: dict[str, str] = {}
        while pending and time.monotonic() < deadline:
            for name, rec in list(pending.items()):
                pid = int(rec["nspawn_pid"])  # type: ignore[arg-type]
                if not pid_alive(pid):
                    raise SwarmError(f"host {name}: systemd-nspawn exited during boot (see its console.log)")
                leader = rec.get("leader_pid")
                if leader and not pid_alive(int(leader)):  # type: ignore[arg-type]
                    leader = None
                leader = leader or self.leader_pid(pid)
                if leader:
                    rec["leader_pid"] = leader
                    states[name] = self.system_state(int(leader))  # type: ignore[arg-type]
                    if states[name] in ("running", "degraded") and self.ssh_open(str(rec["public_ip"])):
                        rec["system_state"] = states[name]
                        del pending[name]
            if pending:
                time.sleep(0.2)
        if pending:
            raise SwarmError(f"hosts {sorted(pending)} not up within boot_timeout={boot_timeout}s "
                             f"(systemd states: {states})")

    # --- tear down -------------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Remove everything of this campaign; tolerant of partial state. Returns what was removed."""
        state = self.load_state() or {}
        hosts = [(int(h.get("nspawn_pid") or 0), h.get("leader_pid"), h["name"])
                 for h in state.get("hosts") or []]  # type: ignore[union-attr]
        removed = self._stop_hosts(hosts)
        # anything else labelled with this campaign's short id
        removed += self._remove_labelled(lambda sid: sid == self.sid)
        if self.dir and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
            removed.append(f"state {self.dir}")
        return removed

    def _stop_hosts(self, hosts: list[tuple[int, object, str]]) -> list[str]:
        """Power every host off at once, wait with one deadline, then SIGKILL what is left."""
        alive = [(pid, leader, name) for pid, leader, name in hosts if pid and pid_alive(pid)]
        for pid, leader, _name in alive:
            leader = leader or self.leader_pid(pid)
            if leader:
                self.run(["nsenter", "-t", str(leader), "-a", "systemctl", "poweroff", "--no-block"])
        deadline = time.monotonic() + 15
        while any(pid_alive(pid) for pid, _leader, _name in alive) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid, _leader, _name in alive:
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while any(pid_alive(pid) for pid, _leader, _name in alive) and time.monotonic() < deadline:
            time.sleep(0.1)
        return [f"host {name} (pid {pid})" for pid, _leader, name in alive]

    def _remove_labelled(self, match: Callable[[str], bool]) -> list[str]:
        removed = []
        strays = [(pid, None, machine) for pid, machine in self.nspawn_processes() if match(machine.split("-")[1])]
        removed += [f"process {x}" for x in self._stop_hosts(strays)]
        for mount in self.overlay_mounts():
            parts = mount[len(self.state_root):].strip("/").split("/")
            if parts and match(short_id(parts[0])):
                self.run(["umount", "-l", mount])
                removed.append(f"mount {mount}")
        for ns in self.netns_list():
            if ns.startswith("aimem-") and match(ns.split("-")[1]):
                self.run(["ip", "netns", "del", ns])
                removed.append(f"netns {ns}")
        for link in self.labelled_links():
            if match(link[2:8]):
                self.run(["ip", "link", "del", link])
                removed.append(f"link {link}")
        return removed

    def nspawn_processes(self) -> list[tuple[int, str]]:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmd = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"systemd-nspawn") and b"-M" in cmd:
                machine = cmd[cmd.index(b"-M") + 1].decode()
                if machine.startswith("aimem-") and pid_alive(int(entry)):
                    found.append((int(entry), machine))
        return found

    def overlay_mounts(self) -> list[str]:
        mounts = []
        with open("/proc/mounts") as fh:
            for line in fh:
                fields = line.split()
                if fields[2] == "overlay" and fields[1].startswith(self.state_root.rstrip("/") + "/"):
                    mounts.append(fields[1])
        return sorted(mounts, reverse=True)

    def labelled_links(self) -> list[str]:
        """Our veth host ends first (removing one removes its pair), then our bridges."""
        out = self.sh(["ip", "-j", "link", "show"], check=False) or "[]"
        try:
            names = [link["ifname"] for link in json.loads(out)]
        except ValueError:
            return []
        return [n for n in names if VETH_RE.match(n)] + [n for n in names if BRIDGE_RE.match(n)]

    def sweep(self) -> list[str]:
        """Remove campaigns whose owner is gone (unless kept) or whose lifetime ended, and unowned leftovers."""
        removed: list[str] = []
        live_sids: set[str] = set()
        if os.path.isdir(self.state_root):
            for cid in sorted(os.listdir(self.state_root)):
                other = LocalSwarm(self.run, self.state_root, cid)
                state = other.load_state()
                if state is None:
                    removed += other.down()
                    continue
                expired = time.time() > float(state.get("expires_at") or 0)
                owner_alive = pid_alive(int(state.get("owner_pid") or 0))
                orphaned = not owner_alive and not state.get("keep")
                # A kept swarm whose hosts all died (the machine's processes were killed) is only bridges,
                # namespaces and overlays now: it can never serve again and would clash with the next run.
                # While its owner is still booting it (no known_hosts yet), no host alive is normal.
                hosts = state.get("hosts") or []
                booted = bool(state.get("known_hosts_file")) or not owner_alive
                dead = booted and not any(pid_alive(int(h.get("nspawn_pid") or 0))  # type: ignore[union-attr]
                                          for h in hosts)  # type: ignore[union-attr]
                if expired or orphaned or dead:
                    removed += other.down()
                else:
                    live_sids.add(other.sid)
        removed += self._remove_labelled(lambda sid: sid not in live_sids)
        return removed
