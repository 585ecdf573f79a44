# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: play_timer
type: aggregate
short_description: Record the wall time of every play as JSON
description:
  - Writes the name, start time, wall seconds and failure state of every play to a JSON file, atomically, after
    each play and at the end of the run. Only names and times are written, never variables or results.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
options:
  output:
    description:
      - Path of the JSON file. Default C(.state/plays/<pid of ansible-playbook>.json), so concurrent runs in one
        checkout never write each other's file; the path in use is exported to the run's tasks as the environment
        variable E(AIMEMORY_PLAY_TIMES_FILE).
    type: path
    env:
      - name: AIMEMORY_PLAY_TIMES_FILE
    ini:
      - section: callback_play_timer
        key: output
"""

import json
import os
import tempfile
import time
from datetime import datetime, timezone

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "aimemory.swarm.play_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.plays: list[dict[str, object]] = []
        self._start = 0.0
        self._failed = False
        self._path = ""

    def set_options(self, task_keys=None, var_options=None, direct=None) -> None:  # type: ignore[no-untyped-def]
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        path = self.get_option("output") or os.path.join(".state", "plays", f"{os.getpid()}.json")
        self._path = os.path.abspath(path)
        os.environ["AIMEMORY_PLAY_TIMES_FILE"] = self._path  # read by playbooks/verdict.yml (lookup env)

    def _close_play(self) -> None:
        if self.plays and "wall_seconds" not in self.plays[-1]:
            self.plays[-1]["wall_seconds"] = round(time.monotonic() - self._start, 3)
            self.plays[-1]["failed"] = self._failed
            self._write()

    def _write(self) -> None:
        path = self._path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".plays.")
        with os.fdopen(fd, "w") as fh:
            json.dump({"plays": [p for p in self.plays if "wall_seconds" in p]}, fh, indent=2)
        os.replace(tmp, path)

    def v2_playbook_on_play_start(self, play) -> None:  # type: ignore[no-untyped-def]
        self._close_play()
        self._start = time.monotonic()
        self._failed = False
        self.plays.append({"name": play.get_name(),
                           "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:  # type: ignore[no-untyped-def]
        if not ignore_errors:
            self._failed = True

    def v2_runner_on_unreachable(self, result) -> None:  # type: ignore[no-untyped-def]
        self._failed = True

    def v2_playbook_on_stats(self, stats) -> None:  # type: ignore[no-untyped-def]
        self._close_play()
