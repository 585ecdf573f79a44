"""Headless Chromium (Debian's ``chromium``) driven over its DevTools protocol on a loopback websocket.

``Chromium()`` is a context manager that owns the browser process and its fresh profile directory: it starts
``chromium --headless`` with every background-networking feature off (on this closed network they stall it), reads
the DevTools port the browser chose from ``DevToolsActivePort`` (deadline), talks to it with ``websockets``, and
on exit closes the browser, then terminates and finally kills the process, and removes the profile.
``open(path)`` loads a local file in a new page and records what the page did: console messages, uncaught
exceptions, log entries and every network request (a report must make none beyond its own file).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM = os.environ.get("AIMEMORY_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--no-default-browser-check", "--mute-audio",
         "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"]
START_DEADLINE_S = 60.0
CALL_DEADLINE_S = 60.0


class BrowserError(RuntimeError):
    pass


@dataclass
class PageRecord:
    """What a loaded page did."""

    url: str
    console: list[dict[str, Any]] = field(default_factory=list)  # {type, text}
    exceptions: list[str] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)  # {level, text, url}
    requests: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries (a failed load, a refused resource)."""
        return ([f"console.{c['type']}: {c['text']}" for c in self.console if c["type"] in ("error", "assert")]
                + [f"exception: {e}" for e in self.exceptions]
                + [f"log {entry['level']}: {entry['text']} {entry.get('url') or ''}" for entry in self.log
                   if entry["level"] == "error"])

    @property
    def foreign_requests(self) -> list[str]:
        """Requests for anything but the page's own file."""
        return [u for u in self.requests if u != self.url]


class Chromium:
    def __init__(self, width: int = 1280, height: int = 900) -> None:
        self.width, self.height = width, height
        self._profile = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._session: str | None = None
        self._events: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Chromium:
        if not Path(CHROMIUM).exists():
            raise BrowserError(f"{CHROMIUM} is missing: scripts/bootstrap installs Debian's chromium")
        self._profile = tempfile.mkdtemp(prefix="aimemory-chromium-")
        self._log = open(Path(self._profile) / "chromium.log", "wb")
        self._proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
                                      stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            # entered as a context manager (websockets' way); closed in __exit__
            self._ws = connect(self._browser_url(), max_size=None, open_timeout=20, close_timeout=5).__enter__()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _browser_url(self) -> str:
        marker = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise BrowserError(f"chromium exited {self._proc.returncode}: {self.log_tail()}")
            if marker.is_file():
                lines = marker.read_text().split()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            time.sleep(0.1)
        raise BrowserError(f"chromium wrote no DevToolsActivePort within {START_DEADLINE_S} s: {self.log_tail()}")

    def log_tail(self) -> str:
        path = Path(self._profile) / "chromium.log"
        return path.read_text(errors="replace")[-2000:] if path.is_file() else ""

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._ws is not None:
                with contextlib.suppress(Exception):
                    self._call("Browser.close", session=False, deadline_s=10)
                self._ws.close()
        finally:
            self._ws = None
            if self._proc is not None:
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.terminate()
                    try:
                        self._proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        self._proc.kill()
                        self._proc.wait(timeout=10)
                self._proc = None
            if getattr(self, "_log", None) is not None:
                self._log.close()
            shutil.rmtree(self._profile, ignore_errors=True)

    # ------------------------------------------------------------------ protocol
    def _call(self, method: str, params: dict[str, Any] | None = None, *, session: bool = True,
              deadline_s: float = CALL_DEADLINE_S) -> dict[str, Any]:
        if self._ws is None:
            raise BrowserError("not connected")
        msg_id = next(self._ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session and self._session:
            msg["sessionId"] = self._session
        self._ws.send(json.dumps(msg))
        deadline = time.monotonic() + deadline_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"{method}: no answer within {deadline_s} s")
            answer = json.loads(self._ws.recv(timeout=left))
            if answer.get("id") == msg_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return answer.get("result") or {}
            if "method" in answer:
                self._events.append(answer)

    def _wait_event(self, method: str, deadline_s: float = CALL_DEADLINE_S) -> dict[str, Any]:
        deadline = time.monotonic() + deadline_s
        while True:
            for i, event in enumerate(self._events):
                if event.get("method") == method:
                    return self._events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0 or self._ws is None:
                raise BrowserError(f"no {method} within {deadline_s} s")
            answer = json.loads(self._ws.recv(timeout=left))
            if "method" in answer:
                self._events.append(answer)

    # ------------------------------------------------------------------ pages
    def open(self, path: Path, settle_s: float = 0.5) -> PageRecord:
        """Load ``path`` in a fresh page (one page at a time) and record what it did until it loaded."""
        url = path.resolve().as_uri()
        if self._session:
            self._call("Target.closeTarget", {"targetId": self._target}, session=False)
        target = self._call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self._target = target
        self._session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                   session=False)["sessionId"]
        self._events.clear()
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._call(f"{domain}.enable")
        self._call("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": self.height,
                                                          "deviceScaleFactor": 1, "mobile": False})
        self._call("Page.navigate", {"url": url})
        self._wait_event("Page.loadEventFired")
        end = time.monotonic() + settle_s
        while time.monotonic() < end:  # late console messages or requests
            try:
                answer = json.loads(self._ws.recv(timeout=max(0.01, end - time.monotonic())))  # type: ignore[union-attr]
            except TimeoutError:
                break
            if "method" in answer:
                self._events.append(answer)
        record = PageRecord(url)
        for event in self._events:
            params = event.get("params") or {}
            method = event.get("method")
            if method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args") or [])
                record.console.append({"type": params.get("type"), "text": text})
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails") or {}
                record.exceptions.append(str((details.get("exception") or {}).get("description")
                                             or details.get("text")))
            elif method == "Log.entryAdded":
                entry = params.get("entry") or {}
                record.log.append({"level": entry.get("level"), "text": entry.get("text"), "url": entry.get("url")})
            elif method == "Network.requestWillBeSent":
                record.requests.append((params.get("request") or {}).get("url", ""))
        return record

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-able)."""
        result = self._call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                 "awaitPromise": True})
        if result.get("exceptionDetails"):
            raise BrowserError(f"evaluate failed: {result['exceptionDetails']}")
        return (result.get("result") or {}).get("value")

    def screenshot(self, out: Path, full_page: bool = False) -> Path:
        """A PNG of the viewport (or of the whole page)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self._call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": self.width, "height": min(size["height"], 16000),
                                "scale": 1})
        data = self._call("Page.captureScreenshot", params)["data"]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(data))
        return out
