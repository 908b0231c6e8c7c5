"""A private package index on loopback, and hand-made wheels to serve from it.

``PackageIndex`` is a PEP 503 "simple" index that demands HTTP basic auth with one token, the
way a company index does; it records the Authorization headers it saw so a test can prove the
token was really used.
"""

from __future__ import annotations

import base64
import hashlib
import html
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def make_wheel(directory: Path, *, name: str, version: str, module_source: str) -> Path:
    """Write a pure-Python wheel for module ``name`` (dashes become underscores).

    The bytes depend only on the arguments, so a wheel can be part of a cache key.
    """
    module = name.replace("-", "_")
    files = {
        f"{module}/__init__.py": module_source.encode(),
        f"{module}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        ).encode(),
        f"{module}-{version}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: sagelift-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = [
        f"{path},sha256={_b64(hashlib.sha256(data).digest())},{len(data)}"
        for path, data in files.items()
    ]
    record.append(f"{module}-{version}.dist-info/RECORD,,")
    files[f"{module}-{version}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return wheel


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class PackageIndex:
    root: Path
    user: str
    token: str
    port: int = 0
    authorizations: list[str] = field(default_factory=list)

    def url(self, *, with_credentials: bool) -> str:
        auth = f"{self.user}:{self.token}@" if with_credentials else ""
        return f"http://{auth}127.0.0.1:{self.port}/simple/"


@contextmanager
def serve_index(root: Path, *, user: str, token: str) -> Iterator[PackageIndex]:
    """Serve the wheels in ``root`` as a simple index on 127.0.0.1 for the ``with`` block."""
    index = PackageIndex(root=root, user=user, token=token)
    expected = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            header = self.headers.get("Authorization", "")
            index.authorizations.append(header)
            if header != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="index"')
                self.end_headers()
                return
            parts = [p for p in self.path.split("/") if p]
            if len(parts) == 2 and parts[0] == "simple":
                project = parts[1]
                links = [
                    f'<a href="/files/{w.name}">{html.escape(w.name)}</a>'
                    for w in sorted(root.glob("*.whl"))
                    if w.name.split("-")[0].replace("_", "-").lower() == project
                ]
                if not links:
                    self._send(404, b"")
                    return
                self._send(200, ("<html><body>" + "".join(links) + "</body></html>").encode())
            elif len(parts) == 2 and parts[0] == "files" and (root / parts[1]).is_file():
                self._send(200, (root / parts[1]).read_bytes(), "application/octet-stream")
            else:
                self._send(404, b"")

        def _send(self, code: int, body: bytes, kind: str = "text/html") -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    index.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield index
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
