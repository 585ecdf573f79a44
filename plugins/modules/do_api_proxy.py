#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_api_proxy
short_description: Run a retrying proxy to the DigitalOcean API on loopback, for modules that do not retry
description:
  - Listens on C(127.0.0.1) (a free port) at a secret path and forwards every request to O(upstream) unchanged
    (method, path, query, body, C(Authorization)), retrying HTTP 429 for every method and HTTP 5xx for GET, HEAD,
    PUT and DELETE, honouring C(Retry-After) and C(ratelimit-reset), with exponential backoff otherwise, until
    O(retry_seconds) have passed for that request; then the last answer is passed on unchanged. A POST answered
    5xx is passed on at once (DigitalOcean may have applied it).
  - Point the C(baseurl) of the community.digitalocean modules at the address it writes into O(url_file), so that
    a rate limit or a passing server error no longer fails (or silently skips) their requests.
  - Runs in the foreground until O(url_file) is removed, the process O(owner_pid) exits, or O(lifetime) seconds
    have passed, whichever comes first; then it returns what it did. Start it with C(async) and C(poll=0) and stop
    it by removing O(url_file).
  - It never stores or logs a header or a body; the token only passes through, as the C(Authorization) header
    the modules send.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  upstream:
    description: Base URL of the DigitalOcean API v2 to forward to.
    type: str
    default: https://api.digitalocean.com/v2
  url_file:
    description:
      - File the proxy writes its address into (mode 0600) once it listens; removing it stops the proxy.
      - Its directory must exist and should be private (C(ansible.builtin.tempfile) makes one).
    type: path
    required: true
  owner_pid:
    description:
      - The process that owns the proxy (the C(ansible-playbook) run); the proxy stops when it exits.
    type: int
    required: true
  timeout:
    description: Seconds each upstream request may take.
    type: float
    default: 30.0
  retry_seconds:
    description: Deadline in seconds for retrying one request.
    type: float
    default: 60.0
  validate_certs:
    description: Verify the upstream's TLS certificate.
    type: bool
    default: true
  lifetime:
    description: Seconds after which the proxy stops whatever else happens.
    type: float
    default: 3600.0
attributes:
  check_mode:
    support: full
    details: The proxy changes nothing itself; it runs the same way in check mode.
  diff_mode:
    support: none
notes:
  - The caller's requests must carry C(Content-Length) (no chunked bodies), as the community.digitalocean modules'
    do.
"""

EXAMPLES = r"""
- name: Make a private directory for the proxy's address
  ansible.builtin.tempfile:
    state: directory
  register: proxy_dir

- name: Start the proxy (it stops when this run ends or its address file goes)
  aimemory.swarm.do_api_proxy:
    url_file: "{{ proxy_dir.path }}/url"
    owner_pid: "{{ lookup('ansible.builtin.pipe', 'ps -o ppid= -p $PPID') | trim }}"
  async: 3660
  poll: 0
  register: proxy_job

- name: Wait for its address
  ansible.builtin.wait_for:
    path: "{{ proxy_dir.path }}/url"
    search_regex: "^http://127"
    timeout: 30

- name: Create a tag through it
  community.digitalocean.digital_ocean_tag:
    baseurl: "{{ lookup('ansible.builtin.file', proxy_dir.path + '/url') }}"
    oauth_token: "{{ lookup('ansible.builtin.env', 'DO_API_TOKEN') }}"
    name: example
  no_log: true

- name: Stop the proxy
  ansible.builtin.file:
    path: "{{ proxy_dir.path }}"
    state: absent
"""

RETURN = r"""
url:
  description: The address the proxy listened on (its secret path included).
  returned: always
  type: str
stopped_by:
  description: What stopped it, C(url_file_removed), C(owner_gone) or C(lifetime).
  returned: always
  type: str
requests:
  description: Requests forwarded (each counted once, however often it was retried).
  returned: always
  type: int
retries:
  description: Retries made, in all.
  returned: always
  type: int
retried_statuses:
  description: How many retries each upstream status caused.
  returned: always
  type: dict
  sample: {"429": 12, "503": 1}
final_statuses:
  description: The statuses passed on to the modules, with their counts.
  returned: always
  type: dict
given_up:
  description: Requests whose last answer was still 429 or 5xx when the deadline allowed no further wait.
  returned: always
  type: int
unreachable:
  description: Requests for which the upstream gave no HTTP answer (answered 502 with the reason).
  returned: always
  type: int
"""

import os
import re
import tempfile
import time
from collections.abc import Callable

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._do.proxy import RetryingProxy

POLL_SECONDS = 0.2


def process_start(pid: int) -> str | None:
    """The start time of ``pid`` (/proc/<pid>/stat field 22), '' without /proc, None when it does not exist or
    has exited (a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    except OSError:
        return ""
    if len(fields) < 20:
        return ""
    return None if fields[0] in ("Z", "X") else fields[19]


def write_private(path: str, content: str) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".url-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(content)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def holds(path: str, content: str) -> bool:
    try:
        with open(path, encoding="utf-8") as found:
            return found.read() == content
    except OSError:
        return False


def wait_for_stop(url_file: str, content: str, owner_pid: int, owner_start: str, lifetime: float,
                  clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> str:
    """Block until the address file is gone (or replaced), the owner exited, or the lifetime is over."""
    deadline = clock() + lifetime
    while True:
        if not holds(url_file, content):
            return "url_file_removed"
        if process_start(owner_pid) != owner_start:
            return "owner_gone"
        if clock() >= deadline:
            return "lifetime"
        sleep(POLL_SECONDS)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            upstream=dict(type="str", default="https://api.digitalocean.com/v2"),
            url_file=dict(type="path", required=True),
            owner_pid=dict(type="int", required=True),
            timeout=dict(type="float", default=30.0),
            retry_seconds=dict(type="float", default=60.0),
            validate_certs=dict(type="bool", default=True),
            lifetime=dict(type="float", default=3600.0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not re.match(r"^https?://[^\s/]+", p["upstream"]):
        module.fail_json(msg=f"upstream={p['upstream']} must be an http(s) URL")
    if not os.path.isdir(os.path.dirname(p["url_file"]) or "."):
        module.fail_json(msg=f"the directory of url_file={p['url_file']} does not exist")
    if min(p["timeout"], p["lifetime"]) <= 0 or p["retry_seconds"] < 0:
        module.fail_json(msg="timeout and lifetime must be positive, retry_seconds zero or more")
    owner_start = process_start(p["owner_pid"])
    if owner_start is None:
        module.fail_json(msg=f"owner_pid={p['owner_pid']} is not a running process")
    proxy = RetryingProxy(p["upstream"], timeout=p["timeout"], retry_seconds=p["retry_seconds"],
                          validate_certs=p["validate_certs"]).start()
    content = proxy.url + "\n"
    try:
        write_private(p["url_file"], content)
        stopped_by = wait_for_stop(p["url_file"], content, p["owner_pid"], owner_start or "", p["lifetime"])
    finally:
        proxy.stop()
        if holds(p["url_file"], content):
            os.unlink(p["url_file"])
    module.exit_json(changed=False, url=proxy.url, stopped_by=stopped_by, **proxy.stats.as_dict())


if __name__ == "__main__":
    main()
