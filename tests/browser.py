"""A real headless Chromium (Debian's ``chromium``) driven over the DevTools protocol, for page tests.

Only what the tests need: open a page, read the DOM, click at an element's position with the mouse, press
keys, take a screenshot. Clicks and keys are real input events (``Input.dispatch*``), not ``element.click()``
from script, so a test proves that a person with a mouse or a keyboard can do the same. The browser may
reach 127.0.0.1 only (no CDN could load), and its profile is a temporary directory.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.sync.client import ClientConnection, connect

from operations.embedded.process import free_port

#: Headless Chromium that may reach only this machine (any CDN request fails: there is no network in CI).
HEADLESS_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def chromium_binary() -> str | None:
    return shutil.which("chromium")


def chromium_env(profile: str) -> dict[str, str]:
    """The environment for a Chromium with ``profile``: its singleton socket's directory, which it makes under
    TMPDIR, then lies inside the profile and is removed with it instead of staying in /tmp."""
    return {**os.environ, "TMPDIR": profile}


class Browser:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, width: int = 1400, height: int = 900) -> None:
        self.port = free_port()
        self.size = (width, height)
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-")
        self._proc: subprocess.Popen[bytes] | None = None
        self._ws: ClientConnection | None = None
        self._closing = contextlib.ExitStack()
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Browser:
        binary = chromium_binary()
        if binary is None:
            raise RuntimeError("chromium is not installed")
        self._proc = subprocess.Popen(
            [
                binary,
                *HEADLESS_FLAGS,
                f"--window-size={self.size[0]},{self.size[1]}",
                f"--user-data-dir={self._profile.name}",
                f"--remote-debugging-port={self.port}",
                "--remote-allow-origins=*",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=chromium_env(self._profile.name),
            start_new_session=True,  # its own process group: its helper processes end with it
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=2) as resp:
                    pages = [t for t in json.load(resp) if t.get("type") == "page"]
                if pages:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self._proc.poll() is not None:
                self.__exit__(None, None, None)
                raise RuntimeError("chromium's DevTools endpoint did not come up")
            time.sleep(0.2)
        self._ws = self._closing.enter_context(
            connect(pages[0]["webSocketDebuggerUrl"], max_size=64 << 20, open_timeout=10)
        )
        self.send("Page.enable")
        self.send("Runtime.enable")
        return self

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None) -> None:
        self._closing.close()
        if self._proc is not None:
            self._end_group()
        self._profile.cleanup()

    def _end_group(self) -> None:
        """Stop Chromium and every helper process it started (renderer, zygote, crash handler), and wait until
        all are gone: a helper still writing into the profile would make removing it fail."""
        assert self._proc is not None
        group = self._proc.pid  # the session leader's pid is its group id
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(grace)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                try:
                    os.killpg(group, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)

    # -- protocol ------------------------------------------------------------------------------
    def send(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        assert self._ws is not None
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            raw = self._ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            msg = json.loads(raw)
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        """The first ``method`` event since the last call (already received or still to come)."""
        assert self._ws is not None
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event["method"] == method:
                    del self.events[: i + 1]
                    return event
            self.events.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {method} within {timeout}s")
            try:
                msg = json.loads(self._ws.recv(timeout=remaining))
            except TimeoutError:
                continue
            if "method" in msg:
                self.events.append(msg)

    # -- actions -------------------------------------------------------------------------------
    def goto(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def dom(self) -> str:
        return str(self.evaluate("document.documentElement.outerHTML"))

    def click(self, selector: str, expect_navigation: bool = True) -> None:
        """A left click with the mouse at the middle of the element ``selector`` (scrolled into view)."""
        box = self.evaluate(
            f"(function(){{var e=document.querySelector({json.dumps(selector)}); if(!e) return null;"
            "e.scrollIntoView({block:'center'}); var r=e.getBoundingClientRect();"
            "return [r.left + r.width/2, r.top + r.height/2];})()"
        )
        if box is None:
            raise LookupError(f"no element {selector!r} on the page")
        self.events.clear()
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
        if expect_navigation:
            self.wait_event("Page.loadEventFired")

    def press(self, key: str, expect_navigation: bool = False) -> None:
        """Type one printable key (a real key press: keydown with its text, then keyup)."""
        self.events.clear()
        self.send("Input.dispatchKeyEvent", type="keyDown", key=key, text=key)
        self.send("Input.dispatchKeyEvent", type="keyUp", key=key)
        if expect_navigation:
            self.wait_event("Page.loadEventFired")

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path
