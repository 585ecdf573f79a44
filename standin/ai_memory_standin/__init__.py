"""ai-memory stand-in: a test double of the ai-memory v0.7 daemon contract (release/v0.7.0@ff8caac8).

It speaks the same CLI, config file, HTTP API, headers and error bodies as ai-memory v0.7 so that roles and
checks never branch on which one runs, and it can misbehave on purpose (fault switches, see faults.py).
"""

VERSION = "0.7.0"
CONTRACT = "release/v0.7.0@ff8caac8"
SCHEMA_VERSION = 57
SERVICE = "ai-memory"
