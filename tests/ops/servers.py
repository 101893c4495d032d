"""Real Prometheus and Alertmanager (Debian packages) on loopback, plus a test exporter.

Each server gets a free 127.0.0.1 port, a temp config and a temp data directory, so the
services the packages may have started are never touched. The exporter is an http.server in
a thread serving `/metrics` whose counters grow at rates the test sets.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

__all__ = [
    "AlertmanagerServer",
    "Exporter",
    "PrometheusServer",
    "alertmanager_binary",
    "prometheus_binary",
]

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, float("inf"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def alertmanager_binary() -> str | None:
    # Debian names it prometheus-alertmanager; upstream tarballs name it alertmanager.
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


class _Server:
    name = "server"

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"devops-bot-{self.name}-"))
        self.log = self.dir / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def args(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def start(self, timeout: float = 20.0) -> _Server:
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(
                self.args(), stdout=log, stderr=subprocess.STDOUT, cwd=self.dir
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        tail = self.log.read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready on {self.url}:\n{tail}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


class PrometheusServer(_Server):
    name = "prometheus"

    def __init__(self, binary: str, *scrape_targets: str) -> None:
        super().__init__(binary)
        targets = ", ".join(f"'{t}'" for t in scrape_targets)
        (self.dir / "prometheus.yml").write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: exporter\n"
            "    scrape_interval: 1s\n"
            "    scrape_timeout: 1s\n"
            "    static_configs:\n"
            f"      - targets: [{targets}]\n"
        )

    def args(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]


class AlertmanagerServer(_Server):
    name = "alertmanager"

    def __init__(self, binary: str) -> None:
        super().__init__(binary)
        (self.dir / "alertmanager.yml").write_text(
            "route:\n"
            "  receiver: blackhole\n"
            "  group_wait: 1s\n"
            "  group_interval: 1s\n"
            "receivers:\n"
            "  - name: blackhole\n"
        )

    def args(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.dir / 'alertmanager.yml'}",
            f"--storage.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]


class Exporter:
    """`/metrics` with http_requests_total{service,namespace,code} and a latency histogram.

    Counters grow continuously at `rates[code]` requests per second (floats, as Prometheus
    counters may be); every request is observed at `latency` seconds in the histogram.
    """

    def __init__(self, service: str = "checkout", namespace: str = "production") -> None:
        self.service = service
        self.namespace = namespace
        self.rates: dict[str, float] = {"200": 20.0, "500": 0.0}
        self.latency = 0.2
        self._counts: dict[str, float] = dict.fromkeys(self.rates, 0.0)
        self._buckets = dict.fromkeys(LATENCY_BUCKETS, 0.0)
        self._sum = 0.0
        self._total = 0.0
        self._last = time.monotonic()
        self._lock = threading.Lock()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Exporter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def set(self, *, rates: dict[str, float] | None = None, latency: float | None = None) -> None:
        """Change the request rates or latency from now on."""
        with self._lock:
            self._advance()
            if rates is not None:
                for code, rate in rates.items():
                    self.rates[code] = rate
                    self._counts.setdefault(code, 0.0)
            if latency is not None:
                self.latency = latency

    def _advance(self) -> None:
        now = time.monotonic()
        elapsed, self._last = now - self._last, now
        for code, rate in self.rates.items():
            n = rate * elapsed
            self._counts[code] += n
            self._total += n
            self._sum += n * self.latency
            for le in LATENCY_BUCKETS:
                if self.latency <= le:
                    self._buckets[le] += n

    def render(self) -> str:
        with self._lock:
            self._advance()
            base = f'service="{self.service}",namespace="{self.namespace}"'
            lines = ["# TYPE http_requests_total counter"]
            for code, count in sorted(self._counts.items()):
                lines.append(f'http_requests_total{{{base},code="{code}"}} {count!r}')
            lines.append("# TYPE http_request_duration_seconds histogram")
            for le, count in self._buckets.items():
                le_text = "+Inf" if le == float("inf") else repr(le)
                lines.append(
                    f'http_request_duration_seconds_bucket{{{base},le="{le_text}"}} {count!r}'
                )
            lines.append(f"http_request_duration_seconds_sum{{{base}}} {self._sum!r}")
            lines.append(f"http_request_duration_seconds_count{{{base}}} {self._total!r}")
            return "\n".join(lines) + "\n"
