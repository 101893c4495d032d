"""A local GitLab for the tests, on loopback port 0: the REST API v4 under `/api/v4` (groups,
projects, merge requests, raw repository files) with GitLab's status codes and bodies, and
the repositories over git's smart HTTP protocol (the real `git http-backend` CGI) at
`/<group>/<name>.git`, as GitLab serves them.

What GitLab answers, as modelled here:
- no `PRIVATE-TOKEN`: a private project reads as `404 Project Not Found` (GitLab hides it),
  anything else is `401 Unauthorized`; a wrong token: `{"message":"401 Unauthorized"}`;
- `POST /projects` for a taken name: 400 `{"message":{"name":["has already been taken"],..}}`;
- a second open merge request for a source branch: 409 `{"message":["Another open merge
  request already exists for this source branch: !1"]}`;
- a token whose user may read but not write (a Reporter): 403 `{"message":"403 Forbidden"}`;
- git over HTTPS: Basic `oauth2:<token>`, else 401 with `WWW-Authenticate`.
Every request is recorded (method, raw path, the PRIVATE-TOKEN or Authorization it carried).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tests.agents.scaffold_agent.forge_server import BACKEND, Forge

API = "/api/v4"
UNAUTHORIZED = {"message": "401 Unauthorized"}


@dataclass
class GitLab(Forge):
    group_ids: dict[str, int] = field(default_factory=lambda: {"acme": 42})
    project_ids: dict[str, int] = field(default_factory=dict)
    merge_requests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # A race: this many listings of merge requests answer [] (made just before another
    # worker opened one), so the backend meets GitLab's 409 for the duplicate.
    stale_listings: int = 0
    # A valid token whose user is only a Reporter in the group: reads work, writes are 403.
    reporter_token: str = "glpat-REPORTERtoken0000"

    @property
    def api(self) -> str:
        return f"{self.url}{API}"

    def project_json(self, full: str) -> dict[str, Any]:
        group, name = full.split("/")
        pid = self.project_ids.setdefault(full, 100 + len(self.project_ids))
        branches = self.branches(group, name)
        return {
            "id": pid,
            "name": name,
            "path": name,
            "path_with_namespace": full,
            "namespace": {"id": self.group_ids.get(group), "full_path": group, "kind": "group"},
            "default_branch": ("main" if "main" in branches else None) if branches else None,
            "visibility": "private",
            "http_url_to_repo": f"{self.url}/{full}.git",
            "web_url": f"{self.url}/{full}",
            "empty_repo": not branches,
        }

    def full_path_of(self, project_id: str) -> str | None:
        """`:id` as GitLab reads it: a number, or the URL-encoded `group/name` path."""
        if project_id.isdigit():
            return next((p for p, i in self.project_ids.items() if str(i) == project_id), None)
        full = unquote(project_id)
        if full.count("/") != 1 or not self.bare(*full.split("/")).exists():
            return None
        return full


def serve(gitlab: GitLab) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = b""
                while True:
                    size = int(self.rfile.readline().strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _json(self, status: int, body: Any) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _handle(self) -> None:
            body = self._body()
            token = self.headers.get("PRIVATE-TOKEN")
            auth = self.headers.get("Authorization", "")
            gitlab.requests.append((self.command, self.path, token or auth))
            url = urlparse(self.path)  # the raw path: %2F stays encoded, as GitLab needs
            if not url.path.startswith(f"{API}/"):
                return self._git(body, auth)
            path = url.path.removeprefix(API)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            project = re.fullmatch(r"/projects/([^/]+)(/.*)?", path)
            if token is None and project and self.command == "GET":
                return self._json(404, {"message": "404 Project Not Found"})
            if token not in (gitlab.token, gitlab.reporter_token):
                return self._json(401, UNAUTHORIZED)
            if token == gitlab.reporter_token and self.command != "GET":
                return self._json(403, {"message": "403 Forbidden"})
            data = json.loads(body or b"{}") if body else {}
            m = re.fullmatch(r"/groups/([^/]+)", path)
            if m and self.command == "GET":
                full = unquote(m[1])
                if full not in gitlab.group_ids:
                    return self._json(404, {"message": "404 Group Not Found"})
                gid = gitlab.group_ids[full]
                return self._json(200, {"id": gid, "path": full, "full_path": full})
            if path == "/projects" and self.command == "POST":
                return self._create_project(data)
            if project is None:
                return self._json(404, {"error": "404 Not Found"})
            full = gitlab.full_path_of(project[1])
            if full is None:
                return self._json(404, {"message": "404 Project Not Found"})
            rest = project[2] or ""
            if not rest and self.command == "GET":
                return self._json(200, gitlab.project_json(full))
            m = re.fullmatch(r"/repository/files/([^/]+)/raw", rest)
            if m and self.command == "GET":
                try:
                    text = gitlab.show(*full.split("/"), query.get("ref", "main"), unquote(m[1]))
                except subprocess.CalledProcessError:
                    return self._json(404, {"message": "404 File Not Found"})
                return self._send(200, text.encode(), "text/plain; charset=utf-8")
            if rest == "/merge_requests":
                if gitlab.hold is not None:
                    gitlab.reached.set()
                    gitlab.hold.wait(30)
                    return self._json(503, {"message": "held"})
                return self._merge_requests(full, query, data)
            return self._json(404, {"error": "404 Not Found"})

        def _create_project(self, data: dict[str, Any]) -> None:
            name = data.get("name") or data.get("path")
            if not name:
                said = "name, path are missing, at least one parameter must be provided"
                return self._json(400, {"error": said})
            group = next(
                (g for g, i in gitlab.group_ids.items() if i == data.get("namespace_id")), None
            )
            if group is None:
                return self._json(404, {"message": "404 Namespace Not Found"})
            path = data.get("path") or name
            if gitlab.bare(group, path).exists():
                taken = ["has already been taken"]
                return self._json(
                    400,
                    {"message": {"project_namespace.name": taken, "name": taken, "path": taken}},
                )
            gitlab.make_repo(group, path)
            return self._json(201, gitlab.project_json(f"{group}/{path}"))

        def _merge_requests(self, full: str, query: dict[str, str], data: dict[str, Any]) -> None:
            mrs = gitlab.merge_requests.setdefault(full, [])
            if self.command == "GET":
                if gitlab.stale_listings > 0:
                    gitlab.stale_listings -= 1
                    return self._json(200, [])
                found = [
                    mr
                    for mr in mrs
                    if query.get("source_branch") in (None, mr["source_branch"])
                    and query.get("state", "all") in ("all", mr["state"])
                ]
                return self._json(200, found)
            missing = [k for k in ("source_branch", "target_branch", "title") if not data.get(k)]
            if missing:
                return self._json(400, {"error": f"{', '.join(missing)} is missing"})
            source, target = data["source_branch"], data["target_branch"]
            for mr in mrs:
                if mr["source_branch"] == source and mr["state"] == "opened":
                    return self._json(
                        409,
                        {
                            "message": [
                                "Another open merge request already exists for this source "
                                f"branch: !{mr['iid']}"
                            ]
                        },
                    )
            branches = gitlab.branches(*full.split("/"))
            if source not in branches or target not in branches:
                which = "Source" if source not in branches else "Target"
                return self._json(400, {"message": [f"{which} branch does not exist"]})
            iid = len(mrs) + 1
            mr = {
                "id": 9000 + iid,
                "iid": iid,
                "project_id": gitlab.project_ids.get(full),
                "title": data["title"],
                "description": data.get("description"),
                "state": "opened",
                "source_branch": source,
                "target_branch": target,
                "sha": branches[source],
                "web_url": f"{gitlab.url}/{full}/-/merge_requests/{iid}",
            }
            mrs.append(mr)
            return self._json(201, mr)

        def _git(self, body: bytes, auth: str) -> None:
            basic = base64.b64encode(f"oauth2:{gitlab.token}".encode()).decode()
            if auth != f"Basic {basic}":
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="GitLab"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            url = urlparse(self.path)
            env = {
                "PATH": os.environ["PATH"],
                "GIT_PROJECT_ROOT": str(gitlab.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "REMOTE_USER": "oauth2",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": url.path,
                "QUERY_STRING": url.query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            }
            done = subprocess.run([BACKEND], input=body, env=env, capture_output=True)
            head, _, payload = done.stdout.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.decode().split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name, value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    gitlab.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
