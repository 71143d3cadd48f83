"""A small driver of Debian's headless Chromium through the DevTools protocol over a pipe.

Chromium started with --remote-debugging-pipe reads commands from its fd 3 and writes replies and
events to its fd 4, each a JSON object ended by a NUL byte. Nothing is downloaded: the browser is
the Debian package `chromium` (scripts/setup.sh installs it).

    with Browser() as browser:
        page = browser.open("file:///tmp/page.html")
        page.evaluate("document.title")
        page.console_errors()
"""

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

MISSING = "chromium not found: install the Debian package chromium (scripts/setup.sh does)"


def chromium_path():
    """The browser's executable: $CHROMIUM, or chromium on the PATH; RuntimeError naming the
    Debian package when there is none."""
    path = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not path:
        raise RuntimeError(MISSING)
    return path


class ProtocolError(RuntimeError):
    """An error reply of the browser to a command."""


class Browser:
    """One headless Chromium; pages are opened as tabs attached over the same pipe."""

    def __init__(self, width=1200, height=900, timeout=20.0):
        self.timeout = timeout
        self._next_id = 0
        self._buffer = b""
        self.events = []  # every event received, in order: (sessionId, method, params)
        self._profile = tempfile.TemporaryDirectory(prefix="attn-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Above the child's 3 and 4 and closed at exec; the child dups them onto 3 and 4.
        high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 10)
        high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 10)
        args = [chromium_path(), "--headless", "--remote-debugging-pipe", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-dev-shm-usage", f"--window-size={width},{height}",
                f"--user-data-dir={self._profile.name}", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=lambda: (os.dup2(high_r, 3), os.dup2(high_w, 4)))
        for fd in (to_browser_r, from_browser_w, high_r, high_w):
            os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._process.poll() is None:
            try:
                self.send("Browser.close")
            except (OSError, ProtocolError, TimeoutError):
                pass
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self._profile.cleanup()

    def send(self, method, params=None, session=None):
        """Sends a command and returns its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise ProtocolError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def wait_for(self, method, session=None):
        """Waits for the next event `method` of `session` and returns its parameters."""
        while True:
            reply = self._read()
            if reply.get("method") == method and reply.get("sessionId") == session:
                return reply.get("params", {})

    def _read(self):
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError(f"the browser did not answer in {self.timeout} s")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("the browser closed its pipe (did it crash?)")
            self._buffer += chunk
        text, self._buffer = self._buffer.split(b"\0", 1)
        message = json.loads(text)
        if "method" in message:
            self.events.append((message.get("sessionId"), message["method"],
                                message.get("params", {})))
        return message

    def open(self, url):
        """A new tab showing `url`, loaded, with its console and log watched."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, session["sessionId"])
        page.navigate(url)
        return page


class Page:
    """One tab: evaluation, mouse and keys, screenshots, and the errors it reported."""

    def __init__(self, browser, session):
        self.browser = browser
        self.session = session
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def send(self, method, params=None):
        return self.browser.send(method, params, self.session)

    def navigate(self, url):
        self.send("Page.navigate", {"url": url})
        self.browser.wait_for("Page.loadEventFired", self.session)

    def evaluate(self, expression):
        """The value of a JavaScript expression (JSON-serialisable), awaiting promises; raises
        ProtocolError with the exception's text when it throws."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise ProtocolError(details.get("exception", {}).get("description", str(details)))
        return result["result"].get("value")

    def mouse_move(self, x, y):
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})

    def click(self, x, y):
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y,
                                                   "button": "left", "clickCount": 1})

    def press(self, key):
        """A key by its DOM name, e.g. "ArrowDown", "Enter", "Escape"."""
        codes = {"ArrowUp": 38, "ArrowDown": 40, "ArrowLeft": 37, "ArrowRight": 39, "Enter": 13,
                 "Escape": 27, "Home": 36, "End": 35, "Tab": 9}
        params = {"key": key, "code": key, "windowsVirtualKeyCode": codes.get(key, 0)}
        self.send("Input.dispatchKeyEvent", dict(params, type="rawKeyDown"))
        self.send("Input.dispatchKeyEvent", dict(params, type="keyUp"))

    def center_of(self, selector):
        """The viewport coordinates of the middle of the first element matching `selector`,
        scrolled into view."""
        return self.evaluate(f"""(() => {{
            const e = document.querySelector({json.dumps(selector)});
            e.scrollIntoView({{block: "center", inline: "center"}});
            const r = e.getBoundingClientRect();
            return [r.left + r.width / 2, r.top + r.height / 2];
        }})()""")

    def screenshot(self, path, clip=None):
        """Writes a PNG of the viewport (or of the clip rectangle {x, y, width, height})."""
        params = {"format": "png"}
        if clip:
            params["clip"] = dict(clip, scale=1)
        data = self.send("Page.captureScreenshot", params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def console_errors(self):
        """Every console error, uncaught exception and error log entry of this tab so far."""
        self.evaluate("0")  # a round trip, so that events sent before it are in
        errors = []
        for session, method, params in self.browser.events:
            if session != self.session:
                continue
            if method == "Runtime.exceptionThrown":
                errors.append(params["exceptionDetails"].get("exception", {}).get(
                    "description", params["exceptionDetails"].get("text")))
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                errors.append(" ".join(str(a.get("value", a.get("description")))
                                       for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                errors.append(params["entry"]["text"])
        return errors
