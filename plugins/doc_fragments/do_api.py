# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # Options of the modules that read the DigitalOcean API through plugins/module_utils/_do/api.py.
    DOCUMENTATION = r"""
options:
  baseurl:
    description:
      - Base URL of the DigitalOcean API v2 (the same option as the community.digitalocean modules).
    type: str
    default: https://api.digitalocean.com/v2
  oauth_token:
    description:
      - DigitalOcean API token. Never logged, never returned.
      - If not set, the environment variables E(DO_API_TOKEN) or E(DIGITALOCEAN_TOKEN) are used.
    type: str
  timeout:
    description:
      - Seconds each HTTP request may take.
    type: float
    default: 30.0
  retry_seconds:
    description:
      - Deadline in seconds for retrying a request the API answered with HTTP 429 (rate limit, honouring
        C(Retry-After)) or, for reads, HTTP 5xx. The error names the status once the deadline has passed.
    type: float
    default: 60.0
  validate_certs:
    description:
      - Verify the API's TLS certificate.
    type: bool
    default: true
"""
