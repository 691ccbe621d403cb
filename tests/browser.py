"""A real headless Chromium for the dashboard tests, driven over the DevTools protocol.

The protocol runs over `--remote-debugging-pipe` (JSON messages ending in NUL on file
descriptors 3 and 4), so no WebSocket client and no open port are needed. The network is off
twice over: Chromium's own background traffic is disabled by flags, and the page's target is
emulated offline; any request for something other than a `file:`, `data:` or `blob:` URL is
recorded, and the tests require there be none.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INSTALL_HINT = "install Chromium: apt-get install -y chromium (Debian/Ubuntu), or set CHROMIUM=/path/to/chromium"

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    "--window-size=1280,900",
)
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")


def chromium_binary() -> str | None:
    """The Chromium to use: $CHROMIUM, else the first of the usual names on the PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageLoad:
    """What loading one page showed: its console errors, non-local requests, and the result."""

    console_errors: list[str] = field(default_factory=list)
    remote_requests: list[str] = field(default_factory=list)
    value: Any = None


class Browser:
    """One Chromium process with a fresh profile; `load` opens a page in a new tab."""

    def __init__(self, binary: str) -> None:
        self._profile = tempfile.mkdtemp(prefix="chromium-profile-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Chromium reads commands on fd 3 and writes answers on fd 4; bash (not sh, which takes
        # single-digit descriptors only) moves the pipe ends there.
        command = [
            shutil.which("bash") or "/bin/bash",
            "-c",
            f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}',
            binary,
            *FLAGS,
            f"--user-data-dir={self._profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self._process = subprocess.Popen(
            command,
            pass_fds=(to_chrome_r, from_chrome_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self._profile, "chromium.log"), "wb"),  # noqa: SIM115
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    # ── the protocol ──

    def _read_message(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the DevTools pipe: {self.log_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise RuntimeError(f"Chromium is gone (exit {self._process.poll()}): {self.log_tail()}") from None
        while True:
            reply = self._read_message()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def _drain(self, session: str) -> list[dict[str, Any]]:
        mine = [e for e in self._events if e.get("sessionId") == session]
        self._events = [e for e in self._events if e.get("sessionId") != session]
        return mine

    # ── pages ──

    def load(
        self,
        url: str,
        ready: str,
        collect: str,
        screenshot: Path | None = None,
        deadline_seconds: float = 60.0,
    ) -> PageLoad:
        """Open `url` offline, wait until the JS expression `ready` is truthy (or the deadline
        passes), evaluate `collect` (its JSON value is returned), save a full-page screenshot."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=session)
        self.send(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
            session=session,
        )
        self.send("Page.navigate", {"url": url}, session=session)
        end = time.monotonic() + deadline_seconds
        while time.monotonic() < end:
            if self._evaluate(ready, session):
                break
            time.sleep(0.2)
        result = PageLoad(value=self._evaluate(collect, session))
        if screenshot is not None:
            metrics = self.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
            width, height = int(metrics["width"]), int(metrics["height"])
            self.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            shot = self.send("Page.captureScreenshot", {"format": "png"}, session=session)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        for event in self._drain(session):
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                words = (str(a.get("value", a.get("description"))) for a in params["args"])
                result.console_errors.append(" ".join(words))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                result.console_errors.append(str(details.get("exception", {}).get("description") or details))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                result.console_errors.append(params["entry"].get("text", ""))
            elif method == "Network.requestWillBeSent":
                request_url = params.get("request", {}).get("url", "")
                if not request_url.startswith(LOCAL_SCHEMES):
                    result.remote_requests.append(request_url)
        self.send("Target.closeTarget", {"targetId": target})
        return result

    def _evaluate(self, expression: str, session: str) -> Any:
        reply = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, session=session
        )
        if "exceptionDetails" in reply:
            raise RuntimeError(f"evaluating {expression[:60]!r}: {reply['exceptionDetails']}")
        return reply.get("result", {}).get("value")

    def log_tail(self, lines: int = 15) -> str:
        """The end of Chromium's log, less its D-Bus noise (there is no bus in a container)."""
        path = os.path.join(self._profile, "chromium.log")
        text = open(path, errors="replace").read() if os.path.exists(path) else ""  # noqa: SIM115
        kept = [line for line in text.splitlines() if "dbus" not in line]
        return "\n".join(kept[-lines:])

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.send("Browser.close")
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._to_chrome, self._from_chrome):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)
