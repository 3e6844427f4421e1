"""The worker's live page: a bounded history of its figures, and the HTTP server that shows it.

One small server on the metrics port answers three paths:

* ``/`` the live page (``static/index.html``: one self-contained file, its charts drawn on
  canvases by inline script, no library and no CDN, since the machine may have no internet);
* ``/status.json`` what the page polls: the history, the top labels, the latest alerts and
  the model, as :meth:`PageHistory.snapshot` returns them;
* ``/metrics`` the Prometheus exposition of the same registry.

The history is bounded (a ring buffer of ``max_points`` points, one per refresh, and the
latest ``max_alerts`` alerts), so the page costs a fixed amount of memory however long the
worker runs. The worker's event loop writes it and the server's threads read it: a lock
keeps each read consistent.
"""

from __future__ import annotations

import errno
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from urllib.parse import urlsplit

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from stream_mlc import errors

# errors.PortInUse (its own exit code) when the package has it; a ConfigError otherwise.
PortInUse = getattr(errors, "PortInUse", errors.ConfigError)

#: The page and what it polls answer with these: nothing may be loaded from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class PageHistory:
    """What the live page shows: the last ``max_points`` points, the top labels, the latest alerts.

    Examples
    --------
    >>> history = PageHistory(max_points=2, max_alerts=1)
    >>> for t in (1.0, 2.0, 3.0):
    ...     history.add_point({"t": t, "micro_f1": t / 4}, labels=[], model={"version": int(t)})
    >>> history.add_alert({"kind": "concept_drift", "subject": "a"})
    >>> history.add_alert({"kind": "recovered", "subject": "a"})
    >>> snapshot = history.snapshot()
    >>> snapshot["series"]["t"], snapshot["series"]["micro_f1"], snapshot["model"]["version"]
    ([2.0, 3.0], [0.5, 0.75], 3)
    >>> [alert["kind"] for alert in snapshot["alerts"]]
    ['recovered']
    """

    def __init__(self, max_points: int = 600, max_alerts: int = 20):
        self.max_points = max_points
        self._points: deque[dict] = deque(maxlen=max_points)
        self._alerts: deque[dict] = deque(maxlen=max_alerts)
        self._labels: list[dict] = []
        self._model: dict = {}
        self._lock = threading.Lock()

    def add_point(self, point: dict, labels: list[dict], model: dict) -> None:
        """Append one point (the oldest falls out) and replace the label table and model info."""
        with self._lock:
            self._points.append(point)
            self._labels = labels
            self._model = model

    def add_alert(self, alert: dict) -> None:
        with self._lock:
            self._alerts.append(alert)

    def snapshot(self) -> dict:
        """The page's data: the points as one list per field (compact JSON), newest alert first."""
        with self._lock:
            points = list(self._points)
            labels, model, alerts = list(self._labels), dict(self._model), list(self._alerts)
        fields = list(dict.fromkeys(key for point in points for key in point))
        series = {key: [point.get(key) for point in points] for key in fields}
        return {"series": series, "labels": labels, "alerts": alerts[::-1], "model": model,
                "max_points": self.max_points}


class PageServer:
    """The HTTP server in a daemon thread; :meth:`shutdown` stops it and frees the port."""

    def __init__(self, server: ThreadingHTTPServer):
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="stream-mlc-page", daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return self._server.server_address[0]

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_page(registry: CollectorRegistry, history: PageHistory, port: int, host: str = "127.0.0.1") -> PageServer:
    """Serve ``/``, ``/status.json`` and ``/metrics`` on ``host:port`` (``port=0``: any free port)."""
    page = files("stream_mlc.service").joinpath("static", "index.html").read_bytes()

    def metrics(accept: str) -> tuple[bytes, str]:
        # The format the scraper asks for (OpenMetrics for Prometheus), as prometheus-client's own server does.
        encoder, content_type = choose_encoder(accept)
        return encoder(registry), content_type

    routes = {
        "/": lambda _accept: (page, "text/html; charset=utf-8"),
        "/index.html": lambda _accept: (page, "text/html; charset=utf-8"),
        "/status.json": lambda _accept: (orjson.dumps(history.snapshot()), "application/json"),
        "/metrics": metrics,
    }
    handler = type("PageHandler", (_Handler,), {"routes": routes})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"metrics port {port} on {host} is in use by another process (another worker or demo?); "
                f"choose another with --metrics-port or STREAM_MLC_METRICS_PORT (0 turns the metrics server off)"
            ) from None
        raise errors.ConfigError(f"cannot serve metrics on {host}:{port}: {error.strerror}") from None
    server.daemon_threads = True
    return PageServer(server)


class _Handler(BaseHTTPRequestHandler):
    routes: dict = {}
    server_version = "stream-mlc"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        route = self.routes.get(urlsplit(self.path).path)
        if route is None:
            body, content_type = b"not found: try / or /metrics\n", "text/plain; charset=utf-8"
        else:
            body, content_type = route(self.headers.get("Accept", ""))
        self.send_response(404 if route is None else 200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass  # a scrape every few seconds and a poll every second would flood the worker's log
