# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Clock skew of one service's process with libfaketime, through a systemd drop-in (and its heal).

The skew is real for the process: ``LD_PRELOAD`` of libfaketime shifts what ``clock_gettime``/``time`` return
to it (wall clock only: ``DONT_FAKE_MONOTONIC=1`` keeps timeouts honest). Whether it took effect is for the
checker to see (the node's HTTP ``Date`` header, measured by ``node_clock``), never assumed here.
"""

from __future__ import annotations

import os
from collections.abc import Callable

Runner = Callable[[list[str]], "tuple[int, str, str]"]
DROPIN_NAME = "aimemory-clock-skew.conf"
LIBRARY_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
)


class ClockSkewError(RuntimeError):
    """The skew cannot be applied here (no libfaketime, systemctl failed)."""


def find_library(candidates: tuple[str, ...] = LIBRARY_CANDIDATES) -> str | None:
    return next((c for c in candidates if os.path.isfile(c)), None)


def dropin_text(library: str, offset_s: int) -> str:
    return ("# Written by aimemory.swarm.clock_skew: a chaos fault. Remove it with state=absent.\n"
            "[Service]\n"
            f"Environment=LD_PRELOAD={library}\n"
            f"Environment=FAKETIME={offset_s:+d}\n"
            "Environment=DONT_FAKE_MONOTONIC=1\n")


class ClockSkew:
    def __init__(self, run: Runner, systemctl: str, unit_dir: str = "/etc/systemd/system") -> None:
        self.run, self.systemctl, self.unit_dir = run, systemctl, unit_dir

    def dropin(self, unit: str) -> str:
        return os.path.join(self.unit_dir, f"{unit}.d", DROPIN_NAME)

    def _systemctl(self, *args: str) -> None:
        rc, out, err = self.run([self.systemctl, *args])
        if rc != 0:
            raise ClockSkewError(f"systemctl {' '.join(args)} failed: {err.strip() or out.strip()}")

    def _current(self, unit: str) -> str | None:
        try:
            with open(self.dropin(unit)) as fh:
                return fh.read()
        except OSError:
            return None

    def apply(self, unit: str, offset_s: int, library: str | None, check_mode: bool) -> dict[str, object]:
        lib = library or find_library()
        if lib is None or not os.path.isfile(lib):
            raise ClockSkewError(f"libfaketime not found ({library or ', '.join(LIBRARY_CANDIDATES)}): "
                                 "install the faketime package on the host")
        wanted = dropin_text(lib, offset_s)
        changed = self._current(unit) != wanted
        if changed and not check_mode:
            os.makedirs(os.path.dirname(self.dropin(unit)), mode=0o755, exist_ok=True)
            tmp = self.dropin(unit) + ".tmp"
            with open(tmp, "w") as fh:
                fh.write(wanted)
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.dropin(unit))
            self._systemctl("daemon-reload")
            self._systemctl("restart", unit)
        return {"changed": changed, "library": lib, "offset_s": offset_s, "dropin": self.dropin(unit)}

    def heal(self, unit: str, check_mode: bool) -> dict[str, object]:
        changed = self._current(unit) is not None
        if changed and not check_mode:
            os.unlink(self.dropin(unit))
            self._systemctl("daemon-reload")
            self._systemctl("restart", unit)
        return {"changed": changed, "library": None, "offset_s": 0, "dropin": self.dropin(unit)}
