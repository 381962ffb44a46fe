"""Drive a real headless Chromium over the DevTools protocol (aiohttp websocket) for report tests.

Chromium is Debian's ``chromium`` package; :func:`chromium_path` installs it when missing
(``apt-get update && apt-get install -y chromium``), as .ci/run does.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-port=0"]
INSTALL = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium"


def chromium_path() -> str:
    """Path of the chromium binary, installing Debian's package first if it is missing."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        subprocess.run(["sh", "-c", INSTALL], check=True, capture_output=True, timeout=600)
        path = shutil.which("chromium")
    if path is None:
        raise RuntimeError(f"chromium not found; install it with: {INSTALL}")
    return path


class Page:
    """One page of a headless Chromium, with the console messages, exceptions and dialogs it produced."""

    def __init__(self, ws) -> None:
        self.ws, self.ids = ws, itertools.count(1)
        self.events: list[dict] = []
        self.pending: dict[int, asyncio.Future] = {}
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.pending:
                self.pending.pop(data["id"]).set_result(data)
            else:
                self.events.append(data)
                if data.get("method") == "Page.javascriptDialogOpening":  # never leave a dialog blocking
                    asyncio.ensure_future(self.send("Page.handleJavaScriptDialog", accept=True))

    async def send(self, method: str, **params) -> dict:
        """Send one DevTools command and wait for its result (RuntimeError on a protocol error)."""
        i = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.pending[i] = fut
        await self.ws.send_str(json.dumps({"id": i, "method": method, "params": params}))
        data = await asyncio.wait_for(fut, 30)
        if "error" in data:
            raise RuntimeError(f"{method}: {data['error']}")
        return data.get("result", {})

    async def evaluate(self, expr: str):
        """Value of a JavaScript expression (returned by value)."""
        res = await self.send("Runtime.evaluate", expression=expr, returnByValue=True)
        return res["result"].get("value")

    def named(self, method: str) -> list[dict]:
        """Events of one kind seen so far."""
        return [e for e in self.events if e.get("method") == method]


async def load_page(html_file: Path, width: int = 1400) -> dict:
    """Open ``html_file``; return console messages, exceptions, dialogs, page facts and a full-page PNG."""
    import aiohttp

    with tempfile.TemporaryDirectory() as profile:
        proc = await asyncio.create_subprocess_exec(
            chromium_path(), *FLAGS, f"--user-data-dir={profile}", "about:blank",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            url = None
            while url is None:
                line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
                if not line:
                    raise RuntimeError("chromium exited before DevTools started")
                m = re.search(r"DevTools listening on (ws://\S+)", line)
                url = m.group(1) if m else None
            port = re.search(r":(\d+)/", url).group(1)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                    target = next(t for t in await resp.json() if t["type"] == "page")
                async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    return await _inspect(Page(ws), html_file, width)
        finally:
            proc.terminate()
            await proc.wait()


async def _inspect(page: Page, html_file: Path, width: int) -> dict:
    for domain in ("Page", "Runtime", "Log"):
        await page.send(f"{domain}.enable")
    await page.send("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)
    await page.send("Page.navigate", url=html_file.resolve().as_uri())
    for _ in range(300):  # load event, at most 30 s
        if page.named("Page.loadEventFired"):
            break
        await asyncio.sleep(0.1)
    height = await page.evaluate("Math.ceil(document.documentElement.scrollHeight)")
    await page.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
    await asyncio.sleep(0.3)
    facts = await page.evaluate("""JSON.stringify({
        text: document.body.innerText,
        scripts: document.querySelectorAll('script').length,
        charts: Array.from(document.querySelectorAll('svg.chart')).map(function (s) {
            var r = s.getBoundingClientRect();
            var texts = Array.from(s.querySelectorAll('text')).map(function (t) {
                var b = t.getBoundingClientRect();
                var shown = Array.from(t.childNodes).filter(function (n) { return n.nodeType === 3; })
                    .map(function (n) { return n.textContent; }).join('');
                return {text: shown, x0: b.left, y0: b.top, x1: b.right, y1: b.bottom};
            });
            var marks = s.querySelectorAll('.series circle, .series rect, .series polyline').length;
            return {id: s.id, x: r.x + window.scrollX, y: r.y + window.scrollY, w: r.width, h: r.height,
                    texts: texts, marks: marks};
        }),
        embedded: JSON.parse(document.getElementById('tokbench-results').textContent).runs.map(function (r) {
            return r.identity.model; })
    })""")
    shot = await page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    await asyncio.sleep(0.2)  # let late console events arrive
    page.reader.cancel()
    return {"console": [e["params"] for e in page.named("Runtime.consoleAPICalled")],
            "exceptions": [e["params"] for e in page.named("Runtime.exceptionThrown")],
            "log": [e["params"]["entry"] for e in page.named("Log.entryAdded")],
            "dialogs": [e["params"] for e in page.named("Page.javascriptDialogOpening")],
            "facts": json.loads(facts), "png": base64.b64decode(shot["data"])}
