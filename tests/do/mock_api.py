"""A DigitalOcean API v2 mock on 127.0.0.1 that holds state and rejects what the real API rejects.

Enough of the API for the community.digitalocean modules and aimemory.swarm's own: account, sizes, regions,
images, tags, SSH keys, VPCs, firewalls, droplets (and their actions). It checks the bearer token (401 with the
real body), required fields, unknown sizes/regions/images, overlapping or reserved VPC ranges, names and tag
syntax, and can be switched to answer 422 (droplet quota) or 429 (rate limit: always, or every n-th request),
to inject 5xx, to answer a VPC in use with 403 or 409, to keep a tag on DELETE and to hand out droplets whose size
has no price. Every request is logged (method, path, query, JSON body, status); the token itself is never logged.

Droplets' public addresses (and their gateway) are loopback addresses (``PUBLIC_POOL``, or the list a test
passes), never routable ones: a campaign run against this mock can only ever open SSH onto this machine. The
private addresses are in the droplet's VPC range, as on DigitalOcean; nothing on the controller connects to them.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

REGIONS = ["nyc1", "nyc3", "sfo3", "ams3", "fra1", "lon1"]
SIZES = [
    # slug, vcpus, memory MiB, disk GB, price_monthly, price_hourly
    ("s-1vcpu-1gb", 1, 1024, 25, 6.0, 0.00893),
    ("s-1vcpu-2gb", 1, 2048, 50, 12.0, 0.01786),
    ("s-2vcpu-2gb", 2, 2048, 60, 18.0, 0.02679),
    ("s-2vcpu-4gb", 2, 4096, 80, 24.0, 0.03571),
    ("s-4vcpu-8gb", 4, 8192, 160, 48.0, 0.07143),
    ("s-8vcpu-16gb", 8, 16384, 320, 96.0, 0.14286),
    ("g-32vcpu-128gb", 32, 131072, 400, 1260.0, 1.875),
]
IMAGES = {"ubuntu-24-04-x64": ("Ubuntu", "24.04 (LTS) x64", 160000001),
          "debian-12-x64": ("Debian", "12 x64", 160000002)}
RESERVED = [ipaddress.ip_network(n) for n in ("10.244.0.0/16", "10.245.0.0/16", "10.246.0.0/24")]
PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
TAG_RE = re.compile(r"^[A-Za-z0-9:_-]{1,255}$")
DROPLET_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,253}[A-Za-z0-9])?$")
VPC_NAME_RE = re.compile(r"^[A-Za-z0-9.-]{1,255}$")
FIREWALL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,254}$")
PORTS_RE = re.compile(r"^(all|0|[0-9]{1,5}(-[0-9]{1,5})?)$")
USER_DATA_MAX = 64 * 1024
PUBLIC_POOL = ipaddress.ip_network("127.77.0.0/16")  # loopback: cannot leave the machine
PUBLIC_GATEWAY = "127.77.0.1"


def loopback_only(addresses: Iterable[str] | None) -> Iterator[str]:
    """The public addresses to hand out, in order (default: PUBLIC_POOL from .10); ValueError for any address
    that is not a loopback address."""
    if addresses is None:
        return (str(a) for a in itertools.islice(PUBLIC_POOL.hosts(), 9, None))
    given = list(addresses)
    for address in given:
        if not ipaddress.ip_address(address).is_loopback:
            raise ValueError(f"the mock hands out loopback public addresses only, not {address}")
    return iter(given)


class ApiError(Exception):
    def __init__(self, status: int, error_id: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_id, self.message = status, error_id, message


def unprocessable(message: str) -> ApiError:
    return ApiError(422, "unprocessable_entity", message)


def not_found() -> ApiError:
    return ApiError(404, "not_found", "The resource you were accessing could not be found.")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fingerprint(public_key: str) -> str:
    digest = hashlib.md5(base64.b64decode(public_key.split()[1])).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


@dataclass
class Logged:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int = 0
    authorized: bool = True
    at: float = field(default_factory=time.time)
    advised_wait: float | None = None  # a 429's Retry-After, or its ratelimit-reset minus `at`


class DoMock:
    """State + an HTTP server. ``url`` is the API base (http://127.0.0.1:<port>/v2)."""

    def __init__(self, token: str, droplet_limit: int = 25, boot_seconds: float = 0.3,
                 member_linger: float = 0.5, public_addresses: Iterable[str] | None = None,
                 vpc_in_use_status: int = 409, droplet_prices: bool = True) -> None:
        self.token = token
        self.droplet_limit = droplet_limit
        self.boot_seconds = boot_seconds
        self.member_linger = member_linger
        self.vpc_in_use_status = vpc_in_use_status  # 403 (the API reference) or 409 (what users observe)
        self.vpc_busy_deletes = 0  # > 0: so many deletes of each VPC answer "in use" even once its members are gone
        self._vpc_deletes: dict[str, int] = {}
        self.droplet_prices = droplet_prices  # False: droplets' size objects carry no price_hourly/price_monthly
        self.mode: str | None = None  # None | "quota" | "ratelimit"
        self.rate_limit_every = 0  # > 0: every n-th authorized request answers 429 (Retry-After or ratelimit-reset)
        self.rate_limit_writes_every = 0  # > 0: also every n-th write (POST, PUT, PATCH, DELETE)
        self._authorized = 0
        self._writes = 0
        self.injected: list[tuple[int, str | None, str, dict[str, str]]] = []  # see inject()
        self.sticky_tags: set[str] = set()  # tags whose DELETE answers 204 and does nothing
        self.lock = threading.RLock()
        self.log: list[Logged] = []
        self.droplets: dict[int, dict[str, Any]] = {}
        self.user_data: dict[int, str] = {}
        self.vpcs: dict[str, dict[str, Any]] = {}
        self.firewalls: dict[str, dict[str, Any]] = {}
        self.keys: dict[int, dict[str, Any]] = {}
        self.tags: dict[str, dict[str, Any]] = {}
        self.lingering: dict[str, list[tuple[int, float]]] = {}  # vpc id -> (droplet id, member until)
        self._ids = itertools.count(500000001)
        self._action_ids = itertools.count(900000001)
        self._public = loopback_only(public_addresses)
        default = self._vpc_record("default-nyc3", "nyc3", "10.108.0.0/20", "", default=True)
        self.vpcs[default["id"]] = default
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    # -- lifecycle ---------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v2"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    # -- helpers for tests -------------------------------------------------------------------------------
    def requests(self, method: str | None = None, path_prefix: str = "") -> list[Logged]:
        with self.lock:
            return [r for r in self.log if (method is None or r.method == method) and r.path.startswith(path_prefix)]

    def inject(self, status: int, times: int = 1, method: str | None = None, path_prefix: str = "/v2/",
               headers: dict[str, str] | None = None) -> None:
        """Answer the next ``times`` matching requests with ``status`` (e.g. 503) instead of serving them."""
        with self.lock:
            self.injected += [(status, method, path_prefix, dict(headers or {}))] * times

    def writes(self) -> list[Logged]:
        return [r for r in self.requests() if r.method in ("POST", "PUT", "PATCH", "DELETE")]

    def seed_droplet(self, name: str, tags: list[str], vpc_id: str | None = None, size: str = "s-1vcpu-1gb") -> int:
        """A droplet that exists before the test (another project's, or another campaign's)."""
        with self.lock:
            vpc_id = vpc_id or next(v["id"] for v in self.vpcs.values() if v["default"])
            return self._create_droplet({"name": name, "region": "nyc3", "size": size,
                                         "image": "ubuntu-24-04-x64", "tags": tags, "vpc_uuid": vpc_id})["id"]

    def seed_vpc(self, name: str, ip_range: str, description: str = "") -> str:
        with self.lock:
            record = self._vpc_record(name, "nyc3", ip_range, description)
            self.vpcs[record["id"]] = record
            return record["id"]

    def seed_firewall(self, name: str, tags: list[str]) -> str:
        with self.lock:
            return self._create_firewall({"name": name, "tags": tags, "inbound_rules": [
                {"protocol": "tcp", "ports": "22", "sources": {"addresses": ["198.51.100.1/32"]}}]})["id"]

    def seed_tag(self, name: str) -> None:
        with self.lock:
            self._ensure_tag(name)

    def seed_key(self, name: str, public_key: str) -> int:
        with self.lock:
            return self._create_key({"name": name, "public_key": public_key})["id"]

    # -- the HTTP layer ----------------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # the default logger writes to stderr
                return

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                entry = Logged(method, unquote(parts.path), query, body)
                status, payload, headers = mock.dispatch(method, entry.path, query, body,
                                                         self.headers.get("Authorization", ""), entry)
                entry.status = status
                with mock.lock:
                    mock.log.append(entry)
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                defaults = {"ratelimit-limit": "5000", "ratelimit-remaining": "0" if status == 429 else "4999",
                            "ratelimit-reset": str(int(time.time()) + 60)}
                for key, value in {**defaults, **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                if data:
                    self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PUT(self) -> None:
                self._serve("PUT")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        return Handler

    def dispatch(self, method: str, path: str, query: dict[str, str], body: Any, auth: str,
                 entry: Logged) -> tuple[int, Any, dict[str, str]]:
        if auth != f"Bearer {self.token}":
            entry.authorized = False
            return 401, {"id": "unauthorized", "message": "Unable to authenticate you"}, {}
        with self.lock:
            rule = next((r for r in self.injected if r[1] in (None, method) and path.startswith(r[2])), None)
            if rule is not None:
                self.injected.remove(rule)
        if rule is not None:
            error_id = "too_many_requests" if rule[0] == 429 else "server_error"
            return rule[0], {"id": error_id, "message": f"injected HTTP {rule[0]}"}, rule[3]
        limited = {"id": "too_many_requests", "message": "API Rate limit exceeded."}
        if self.mode == "ratelimit":
            entry.advised_wait = 1.0
            return 429, limited, {"Retry-After": "1"}
        with self.lock:
            self._authorized += 1
            nth = self._authorized
            write = method != "GET"
            self._writes += write
            nth_write = self._writes if write else 0
        hit = bool(self.rate_limit_every and nth % self.rate_limit_every == 0)
        if hit or (self.rate_limit_writes_every and nth_write and nth_write % self.rate_limit_writes_every == 0):
            if nth % 2:  # alternately Retry-After, and ratelimit-reset alone
                entry.advised_wait = 1.0
                return 429, limited, {"Retry-After": "1"}
            reset = int(entry.at) + 1
            entry.advised_wait = reset - entry.at
            return 429, limited, {"ratelimit-reset": str(reset)}
        if not path.startswith("/v2/"):
            return 404, {"id": "not_found", "message": "The resource you were accessing could not be found."}, {}
        if body is not None and not isinstance(body, dict):
            return 400, {"id": "bad_request", "message": "error parsing request body"}, {}
        try:
            with self.lock:
                status, payload = self._route(method, path[len("/v2"):], query, body or {})
            return status, payload, {}
        except ApiError as exc:
            return exc.status, {"id": exc.error_id, "message": exc.message}, {}

    def _route(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        routes: list[tuple[str, str, Any]] = [
            ("GET", r"/account", lambda m: (200, {"account": self._account()})),
            ("GET", r"/sizes", lambda m: (200, self._page("sizes", self._sizes(), query))),
            ("GET", r"/regions", lambda m: (200, self._page("regions", self._regions(), query))),
            ("GET", r"/images/([^/]+)", lambda m: (200, {"image": self._image(m.group(1))})),
            ("GET", r"/tags", lambda m: (200, self._page("tags", [self._tag_view(t) for t in self.tags], query))),
            ("POST", r"/tags", lambda m: (201, {"tag": self._create_tag(body)})),
            ("GET", r"/tags/([^/]+)", lambda m: (200, {"tag": self._tag_view(self._tag(m.group(1)))})),
            ("DELETE", r"/tags/([^/]+)", lambda m: self._delete_tag(m.group(1))),
            ("GET", r"/account/keys", lambda m: (200, self._page("ssh_keys", list(self.keys.values()), query))),
            ("POST", r"/account/keys", lambda m: (201, {"ssh_key": self._create_key(body)})),
            ("GET", r"/account/keys/([^/]+)", lambda m: (200, {"ssh_key": self._key(m.group(1))})),
            ("PUT", r"/account/keys/([^/]+)", lambda m: (200, {"ssh_key": self._rename_key(m.group(1), body)})),
            ("DELETE", r"/account/keys/([^/]+)", lambda m: self._delete_key(m.group(1))),
            ("GET", r"/vpcs", lambda m: (200, self._page("vpcs", list(self.vpcs.values()), query))),
            ("POST", r"/vpcs", lambda m: (201, {"vpc": self._create_vpc(body)})),
            ("GET", r"/vpcs/([^/]+)", lambda m: (200, {"vpc": self._vpc(m.group(1))})),
            ("PUT", r"/vpcs/([^/]+)", lambda m: (200, {"vpc": self._update_vpc(m.group(1), body)})),
            ("PATCH", r"/vpcs/([^/]+)", lambda m: (200, {"vpc": self._update_vpc(m.group(1), body)})),
            ("DELETE", r"/vpcs/([^/]+)", lambda m: self._delete_vpc(m.group(1))),
            ("GET", r"/firewalls", lambda m: (200, self._page("firewalls", list(self.firewalls.values()), query))),
            ("POST", r"/firewalls", lambda m: (202, {"firewall": self._create_firewall(body)})),
            ("GET", r"/firewalls/([^/]+)", lambda m: (200, {"firewall": self._firewall(m.group(1))})),
            ("PUT", r"/firewalls/([^/]+)", lambda m: (200, {"firewall": self._update_firewall(m.group(1), body)})),
            ("DELETE", r"/firewalls/([^/]+)", lambda m: self._delete_firewall(m.group(1))),
            ("GET", r"/droplets", lambda m: (200, self._page("droplets", self._list_droplets(query), query))),
            ("POST", r"/droplets", lambda m: (202, self._post_droplet(body))),
            ("DELETE", r"/droplets", lambda m: self._delete_droplets_by_tag(query)),
            ("GET", r"/droplets/([0-9]+)", lambda m: (200, {"droplet": self._view(self._droplet(m.group(1)))})),
            ("DELETE", r"/droplets/([0-9]+)", lambda m: self._delete_droplet(m.group(1))),
            ("POST", r"/droplets/([0-9]+)/actions", lambda m: (201, {"action": self._action(m.group(1), body)})),
            ("GET", r"/droplets/([0-9]+)/actions/([0-9]+)",
             lambda m: (200, {"action": {"id": int(m.group(2)), "status": "completed", "type": "power_on"}})),
        ]
        for verb, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                return handler(match)
        raise not_found()

    @staticmethod
    def _page(key: str, items: list[Any], query: dict[str, str]) -> dict[str, Any]:
        try:
            page, per_page = max(1, int(query.get("page", 1))), min(200, max(1, int(query.get("per_page", 20))))
        except ValueError as exc:
            raise ApiError(400, "bad_request", "page and per_page must be integers") from exc
        chunk = items[(page - 1) * per_page: page * per_page]
        links: dict[str, Any] = {}
        if page * per_page < len(items):
            links = {"pages": {"next": f"?page={page + 1}&per_page={per_page}",
                               "last": f"?page={(len(items) + per_page - 1) // per_page}&per_page={per_page}"}}
        return {key: chunk, "links": links, "meta": {"total": len(items)}}

    # -- account, sizes, regions, images ---------------------------------------------------------------
    def _account(self) -> dict[str, Any]:
        return {"droplet_limit": self.droplet_limit, "floating_ip_limit": 3, "volume_limit": 100,
                "email": "ci@example.invalid", "uuid": "b6fr89dbf6d9156cace5f3c78dc9851d957381ef",
                "email_verified": True, "status": "active", "status_message": ""}

    @staticmethod
    def _sizes() -> list[dict[str, Any]]:
        return [{"slug": slug, "vcpus": vcpus, "memory": memory, "disk": disk, "transfer": 4.0,
                 "price_monthly": monthly, "price_hourly": hourly, "regions": list(REGIONS), "available": True,
                 "description": "Basic"} for slug, vcpus, memory, disk, monthly, hourly in SIZES]

    def _size(self, slug: str) -> dict[str, Any] | None:
        return next((s for s in self._sizes() if s["slug"] == slug), None)

    def _regions(self) -> list[dict[str, Any]]:
        sizes = [s[0] for s in SIZES]
        return [{"slug": r, "name": r.upper(), "sizes": sizes, "available": True,
                 "features": ["backups", "ipv6", "metadata", "install_agent"]} for r in REGIONS]

    @staticmethod
    def _image(slug: str) -> dict[str, Any]:
        if slug not in IMAGES:
            raise not_found()
        distribution, name, image_id = IMAGES[slug]
        return {"id": image_id, "name": name, "distribution": distribution, "slug": slug, "public": True,
                "regions": list(REGIONS), "type": "base", "status": "available"}

    # -- tags --------------------------------------------------------------------------------------------
    def _tag(self, name: str) -> str:
        if name not in self.tags:
            raise not_found()
        return name

    def _tag_view(self, name: str) -> dict[str, Any]:
        count = sum(1 for d in self.droplets.values() if name in d["tags"])
        return {"name": name, "resources": {"count": count, "droplets": {"count": count}}}

    def _ensure_tag(self, name: Any) -> None:
        if not isinstance(name, str) or not TAG_RE.match(name):
            raise unprocessable(f"tag name {name!r} may only contain letters, numbers, colons, dashes and underscores")
        self.tags.setdefault(name, {"name": name})

    def _create_tag(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not name:
            raise unprocessable("name is required")
        if name in self.tags:
            raise unprocessable("tag already exists")
        self._ensure_tag(name)
        return self._tag_view(name)

    def _delete_tag(self, name: str) -> tuple[int, None]:
        self._tag(name)
        if name in self.sticky_tags:
            return 204, None
        del self.tags[name]
        for droplet in self.droplets.values():
            if name in droplet["tags"]:
                droplet["tags"].remove(name)
        for firewall in self.firewalls.values():
            if name in firewall["tags"]:
                firewall["tags"].remove(name)
        return 204, None

    # -- SSH keys ----------------------------------------------------------------------------------------
    def _key(self, ref: str) -> dict[str, Any]:
        for key in self.keys.values():
            if str(key["id"]) == ref or key["fingerprint"] == ref:
                return key
        raise not_found()

    def _create_key(self, body: dict[str, Any]) -> dict[str, Any]:
        name, public_key = body.get("name"), body.get("public_key")
        if not name or not public_key:
            raise unprocessable("name and public_key are required")
        try:
            fp = fingerprint(public_key)
            if public_key.split()[0] not in ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"):
                raise ValueError(public_key.split()[0])
        except (IndexError, ValueError) as exc:
            raise unprocessable("Key invalid, key should be of the format `type key [comment]`") from exc
        if any(k["fingerprint"] == fp for k in self.keys.values()):
            raise unprocessable("SSH Key is already in use on your account")
        key = {"id": next(self._ids), "fingerprint": fp, "public_key": public_key, "name": name}
        self.keys[key["id"]] = key
        return key

    def _rename_key(self, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        key = self._key(ref)
        if not body.get("name"):
            raise unprocessable("name is required")
        key["name"] = body["name"]
        return key

    def _delete_key(self, ref: str) -> tuple[int, None]:
        del self.keys[self._key(ref)["id"]]
        return 204, None

    # -- VPCs --------------------------------------------------------------------------------------------
    @staticmethod
    def _vpc_record(name: str, region: str, ip_range: str, description: str, default: bool = False) -> dict[str, Any]:
        vpc_id = str(uuid.uuid4())
        return {"id": vpc_id, "urn": f"do:vpc:{vpc_id}", "name": name, "description": description,
                "region": region, "ip_range": ip_range, "default": default, "created_at": now_iso()}

    def _vpc(self, vpc_id: str) -> dict[str, Any]:
        if vpc_id not in self.vpcs:
            raise not_found()
        return self.vpcs[vpc_id]

    def _create_vpc(self, body: dict[str, Any]) -> dict[str, Any]:
        name, region, ip_range = body.get("name"), body.get("region"), body.get("ip_range")
        if not name or not region:
            raise unprocessable("name and region are required")
        if not isinstance(name, str) or not VPC_NAME_RE.match(name):
            raise unprocessable("name may only contain alphanumeric characters, dashes, and periods")
        if any(v["name"] == name for v in self.vpcs.values()):
            raise unprocessable(f"a VPC named {name} already exists")
        if region not in REGIONS:
            raise unprocessable(f"region {region} is not a valid region")
        if len(body.get("description") or "") > 255:
            raise unprocessable("description may be at most 255 characters")
        if ip_range is None:
            raise unprocessable("this mock needs an explicit ip_range")
        try:
            net = ipaddress.ip_network(ip_range)
        except ValueError as exc:
            raise unprocessable(f"ip_range {ip_range} is not a valid CIDR network") from exc
        if net.version != 4 or not any(net.subnet_of(p) for p in PRIVATE):
            raise unprocessable("ip_range must be within RFC 1918 private address space")
        if not 16 <= net.prefixlen <= 28:
            raise unprocessable("ip_range may not be smaller than /28 nor larger than /16")
        if any(net.overlaps(r) for r in RESERVED):
            raise unprocessable(f"ip_range {ip_range} overlaps a range reserved by DigitalOcean")
        if any(net.overlaps(ipaddress.ip_network(v["ip_range"])) for v in self.vpcs.values()):
            raise unprocessable(f"ip_range {ip_range} overlaps with an existing VPC network")
        record = self._vpc_record(name, region, str(net), body.get("description") or "")
        self.vpcs[record["id"]] = record
        return record

    def _update_vpc(self, vpc_id: str, body: dict[str, Any]) -> dict[str, Any]:
        vpc = self._vpc(vpc_id)
        if "name" in body:
            if not VPC_NAME_RE.match(str(body["name"])):
                raise unprocessable("name may only contain alphanumeric characters, dashes, and periods")
            vpc["name"] = body["name"]
        if "description" in body:
            vpc["description"] = body["description"]
        return vpc

    def _members(self, vpc_id: str) -> list[int]:
        now = time.time()
        lingering = [d for d, until in self.lingering.get(vpc_id, []) if until > now]
        return [d["id"] for d in self.droplets.values() if d["vpc_uuid"] == vpc_id] + lingering

    def _delete_vpc(self, vpc_id: str) -> tuple[int, None]:
        vpc = self._vpc(vpc_id)
        if vpc["default"]:
            raise ApiError(403, "forbidden", "Can not delete default VPC")
        self._vpc_deletes[vpc_id] = self._vpc_deletes.get(vpc_id, 0) + 1
        if self._members(vpc_id) or self._vpc_deletes[vpc_id] <= self.vpc_busy_deletes:
            error_id = "forbidden" if self.vpc_in_use_status == 403 else "conflict"
            raise ApiError(self.vpc_in_use_status, error_id, "Can not delete VPC with members")
        del self.vpcs[vpc_id]
        return 204, None

    # -- firewalls ---------------------------------------------------------------------------------------
    def _firewall(self, fw_id: str) -> dict[str, Any]:
        if fw_id not in self.firewalls:
            raise not_found()
        return self.firewalls[fw_id]

    def _targets(self, raw: Any, what: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise unprocessable(f"{what} is required")
        out: dict[str, Any] = {}
        for key in ("addresses", "droplet_ids", "load_balancer_uids", "tags", "kubernetes_ids"):
            value = raw.get(key)
            if value:
                out[key] = list(value)
        if not out:
            raise unprocessable(f"{what} must name at least one address, droplet, tag or load balancer")
        for address in out.get("addresses", []):
            try:
                ipaddress.ip_network(address, strict=False)
            except ValueError as exc:
                raise unprocessable(f"{address} is not a valid IP address or CIDR") from exc
        for tag in out.get("tags", []):
            if not TAG_RE.match(tag):
                raise unprocessable(f"tag name {tag!r} is invalid")
        return out

    def _rules(self, raw: Any, direction: str) -> list[dict[str, Any]]:
        rules = []
        for rule in raw or []:
            protocol = rule.get("protocol")
            if protocol not in ("tcp", "udp", "icmp"):
                raise unprocessable(f"protocol {protocol!r} must be tcp, udp or icmp")
            ports = str(rule.get("ports") or ("0" if protocol == "icmp" else ""))
            if protocol != "icmp":
                match = PORTS_RE.match(ports)
                bounds = [int(p) for p in ports.split("-")] if match and ports not in ("all", "0") else [1]
                if not match or not all(1 <= p <= 65535 for p in bounds):
                    raise unprocessable(f"ports {ports!r} must be a port, a range or 'all'")
            key = "sources" if direction == "inbound" else "destinations"
            rules.append({"protocol": protocol, "ports": ports, key: self._targets(rule.get(key), key)})
        return rules

    def _firewall_body(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not name or not isinstance(name, str) or not FIREWALL_NAME_RE.match(name):
            raise unprocessable("name is required and may only contain letters, numbers, '.' and '-'")
        inbound = self._rules(body.get("inbound_rules"), "inbound")
        outbound = self._rules(body.get("outbound_rules"), "outbound")
        if not inbound and not outbound:
            raise unprocessable("at least one inbound or outbound rule is required")
        tags = list(body.get("tags") or [])
        for tag in tags:
            self._ensure_tag(tag)
        droplet_ids = [int(d) for d in body.get("droplet_ids") or []]
        if any(d not in self.droplets for d in droplet_ids):
            raise unprocessable("droplet_ids names a droplet that does not exist")
        return {"name": name, "inbound_rules": inbound, "outbound_rules": outbound, "tags": tags,
                "droplet_ids": droplet_ids}

    def _create_firewall(self, body: dict[str, Any]) -> dict[str, Any]:
        fields = self._firewall_body(body)
        if any(f["name"] == fields["name"] for f in self.firewalls.values()):
            raise unprocessable(f"a firewall named {fields['name']} already exists")
        record = {"id": str(uuid.uuid4()), "status": "succeeded", "created_at": now_iso(), "pending_changes": [],
                  **fields}
        self.firewalls[record["id"]] = record
        return record

    def _update_firewall(self, fw_id: str, body: dict[str, Any]) -> dict[str, Any]:
        record = self._firewall(fw_id)
        record.update(self._firewall_body(body))
        return record

    def _delete_firewall(self, fw_id: str) -> tuple[int, None]:
        del self.firewalls[self._firewall(fw_id)["id"]]
        return 204, None

    # -- droplets ----------------------------------------------------------------------------------------
    def _droplet(self, droplet_id: str) -> dict[str, Any]:
        droplet = self.droplets.get(int(droplet_id))
        if droplet is None:
            raise not_found()
        return droplet

    def _view(self, droplet: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in droplet.items() if not k.startswith("_")}
        if droplet["status"] == "new" and time.time() - droplet["_created"] >= self.boot_seconds:
            droplet["status"] = view["status"] = "active"
        if view["status"] == "new":
            view["networks"] = {"v4": [], "v6": []}
        return view

    def _list_droplets(self, query: dict[str, str]) -> list[dict[str, Any]]:
        tag = query.get("tag_name")
        name = query.get("name")
        return [self._view(d) for d in self.droplets.values()
                if (tag is None or tag in d["tags"]) and (name is None or d["name"] == name)]

    def _post_droplet(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.mode == "quota" or len(self.droplets) + 1 > self.droplet_limit:
            raise unprocessable("creating this/these droplet(s) will exceed your droplet limit")
        droplet = self._create_droplet(body)
        action = {"id": next(self._action_ids), "rel": "create", "href": f"/v2/actions/{droplet['id']}"}
        return {"droplet": self._view(droplet), "links": {"actions": [action]}}

    def _create_droplet(self, body: dict[str, Any]) -> dict[str, Any]:
        for required in ("name", "region", "size", "image"):
            if not body.get(required):
                raise unprocessable(f"{required} is required")
        name = body["name"]
        if not isinstance(name, str) or not DROPLET_NAME_RE.match(name):
            raise unprocessable("Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)")
        if body["region"] not in REGIONS:
            raise unprocessable("You specified an invalid region for Droplet creation.")
        size = self._size(body["size"])
        if size is None:
            raise unprocessable("You specified an invalid size for Droplet creation.")
        if body["image"] not in IMAGES:
            raise unprocessable("You specified an invalid image for Droplet creation.")
        vpc_id = body.get("vpc_uuid") or next(v["id"] for v in self.vpcs.values()
                                              if v["default"] and v["region"] == body["region"])
        vpc = self.vpcs.get(vpc_id)
        if vpc is None or vpc["region"] != body["region"]:
            raise unprocessable("vpc_uuid does not name a VPC in the droplet's region")
        for ref in body.get("ssh_keys") or []:
            if not any(str(k["id"]) == str(ref) or k["fingerprint"] == ref for k in self.keys.values()):
                raise unprocessable(f"ssh_keys: {ref} is not a key of this account")
        user_data = body.get("user_data")
        if user_data is not None and (not isinstance(user_data, str) or len(user_data.encode()) > USER_DATA_MAX):
            raise unprocessable("user_data must be a string of at most 64 KiB")
        tags = list(body.get("tags") or [])
        for tag in tags:
            self._ensure_tag(tag)
        droplet_id = next(self._ids)
        network = ipaddress.ip_network(vpc["ip_range"])
        used = {n["ip_address"] for d in self.droplets.values() if d["vpc_uuid"] == vpc_id for n in d["networks"]["v4"]}
        private = next(str(h) for h in list(network.hosts())[1:] if str(h) not in used)
        public = next(self._public, None)
        if public is None:
            raise ApiError(500, "server_error", "the mock ran out of public addresses")
        distribution, image_name, image_id = IMAGES[body["image"]]
        droplet = {
            "id": droplet_id, "name": name, "memory": size["memory"], "vcpus": size["vcpus"], "disk": size["disk"],
            "locked": False, "status": "new", "created_at": now_iso(), "features": ["private_networking"],
            "backup_ids": [], "snapshot_ids": [], "volume_ids": [], "next_backup_window": None,
            "image": {"id": image_id, "name": image_name, "distribution": distribution, "slug": body["image"]},
            "size": {k: v for k, v in size.items() if self.droplet_prices or not k.startswith("price_")},
            "size_slug": size["slug"],
            "networks": {"v4": [
                {"ip_address": public, "netmask": str(PUBLIC_POOL.netmask), "gateway": PUBLIC_GATEWAY,
                 "type": "public"},
                {"ip_address": private, "netmask": str(network.netmask), "gateway": "", "type": "private"}],
                "v6": []},
            "region": {"slug": body["region"], "name": body["region"].upper(), "available": True},
            "tags": tags, "vpc_uuid": vpc_id, "_created": time.time(),
        }
        self.droplets[droplet_id] = droplet
        if user_data is not None:
            self.user_data[droplet_id] = user_data
        return droplet

    def _action(self, droplet_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._droplet(droplet_id)
        if body.get("type") not in ("power_on", "power_off", "shutdown", "reboot", "resize"):
            raise unprocessable(f"action type {body.get('type')!r} is not supported")
        return {"id": next(self._action_ids), "status": "completed", "type": body["type"]}

    def _delete_droplet(self, droplet_id: str) -> tuple[int, None]:
        droplet = self.droplets.pop(self._droplet(droplet_id)["id"])
        self.lingering.setdefault(droplet["vpc_uuid"], []).append((droplet["id"], time.time() + self.member_linger))
        return 204, None

    def _delete_droplets_by_tag(self, query: dict[str, str]) -> tuple[int, None]:
        tag = query.get("tag_name")
        if not tag:
            raise unprocessable("tag_name is required")
        for droplet in [d for d in self.droplets.values() if tag in d["tags"]]:
            self._delete_droplet(str(droplet["id"]))
        return 204, None
