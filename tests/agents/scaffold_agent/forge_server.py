"""A local forge for the tests, on loopback port 0: GitHub's REST API for repositories and
pull requests (201/404/422 as GitHub answers them, a duplicate pull request refused with 422)
and the repositories themselves over git's smart HTTP protocol (the real `git http-backend`
CGI), with the token checked on both. Every request is recorded."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

BACKEND = "/usr/lib/git-core/git-http-backend"


@dataclass
class Forge:
    root: Path
    token: str
    org: str = "acme"
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, auth
    pulls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    url: str = ""
    # When set: a request for pull requests waits here (after the branch was pushed), and
    # `reached` says one arrived: the tests kill the bot at that moment.
    hold: threading.Event | None = None
    reached: threading.Event = field(default_factory=threading.Event)

    def bare(self, owner: str, name: str) -> Path:
        return self.root / owner / f"{name}.git"

    def make_repo(self, owner: str, name: str, files: dict[str, str] | None = None) -> Path:
        path = self.bare(owner, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
        if files:
            work = self.root / f".seed-{owner}-{name}"
            subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
            for rel, text in files.items():
                (work / rel).parent.mkdir(parents=True, exist_ok=True)
                (work / rel).write_text(text)
            env = {
                **os.environ,
                "GIT_AUTHOR_NAME": "t",
                "GIT_AUTHOR_EMAIL": "t@t",
                "GIT_COMMITTER_NAME": "t",
                "GIT_COMMITTER_EMAIL": "t@t",
            }
            for args in (
                ["add", "-A"],
                ["commit", "-qm", "seed"],
                ["push", "-q", str(path), "main"],
            ):
                subprocess.run(["git", *args], cwd=work, env=env, check=True)
        return path

    def branches(self, owner: str, name: str) -> dict[str, str]:
        out = subprocess.run(
            [
                "git",
                "--git-dir",
                str(self.bare(owner, name)),
                "for-each-ref",
                "--format=%(refname:short) %(objectname)",
                "refs/heads",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return dict(line.split() for line in out.splitlines())

    def show(self, owner: str, name: str, ref: str, path: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(self.bare(owner, name)), "show", f"{ref}:{path}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def repo_json(self, owner: str, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "full_name": f"{owner}/{name}",
            "clone_url": f"{self.url}/git/{owner}/{name}.git",
            "html_url": f"{self.url}/{owner}/{name}",
            "default_branch": "main",
            "private": True,
        }


def serve(forge: Forge) -> tuple[ThreadingHTTPServer, threading.Thread]:
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

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            body = self._body()
            auth = self.headers.get("Authorization", "")
            forge.requests.append((self.command, self.path, auth))
            if self.path.startswith("/git/"):
                return self._git(body, auth)
            if auth != f"Bearer {forge.token}":
                return self._json(401, {"message": "Bad credentials"})
            url = urlparse(self.path)
            data = json.loads(body or b"null")
            m = re.fullmatch(r"/repos/([^/]+)/([^/]+)", url.path)
            if m and self.command == "GET":
                if not forge.bare(*m.groups()).exists():
                    return self._json(404, {"message": "Not Found"})
                return self._json(200, forge.repo_json(*m.groups()))
            m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/contents/(.+)", url.path)
            if m and self.command == "GET":  # with Accept: application/vnd.github.raw+json
                owner, name, path = m.groups()
                ref = (parse_qs(url.query).get("ref") or ["main"])[0]
                text = None
                if forge.bare(owner, name).exists():
                    try:
                        text = forge.show(owner, name, ref, path)
                    except subprocess.CalledProcessError:
                        text = None
                if text is None:
                    return self._json(404, {"message": "Not Found"})
                data = text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.github.raw; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None
            m = re.fullmatch(r"/orgs/([^/]+)/repos", url.path)
            if m and self.command == "POST":
                org, name = m[1], data["name"]
                if forge.bare(org, name).exists():
                    return self._json(
                        422,
                        {
                            "message": "Repository creation failed.",
                            "errors": [
                                {
                                    "resource": "Repository",
                                    "code": "custom",
                                    "field": "name",
                                    "message": "name already exists on this account",
                                }
                            ],
                        },
                    )
                forge.make_repo(org, name)
                return self._json(201, forge.repo_json(org, name))
            m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/pulls", url.path)
            if m and forge.hold is not None:
                forge.reached.set()
                forge.hold.wait(30)
                return self._json(503, {"message": "held"})
            if m:
                key = f"{m[1]}/{m[2]}"
                pulls = forge.pulls.setdefault(key, [])
                if self.command == "GET":
                    q = {k: v[0] for k, v in parse_qs(url.query).items()}
                    found = [
                        p
                        for p in pulls
                        if (not q.get("head") or f"{m[1]}:{p['head']['ref']}" == q["head"])
                        and q.get("state", "open") in (p["state"], "all")
                    ]
                    return self._json(200, found)
                head, base = data.get("head"), data.get("base")
                branches = forge.branches(m[1], m[2])
                if head not in branches or base not in branches:
                    return self._json(
                        422,
                        {
                            "message": "Validation Failed",
                            "errors": [
                                {"resource": "PullRequest", "field": "head", "code": "invalid"}
                            ],
                        },
                    )
                if any(p["head"]["ref"] == head and p["state"] == "open" for p in pulls):
                    return self._json(
                        422,
                        {
                            "message": "Validation Failed",
                            "errors": [
                                {
                                    "resource": "PullRequest",
                                    "code": "custom",
                                    "message": f"A pull request already exists for {m[1]}:{head}.",
                                }
                            ],
                        },
                    )
                number = len(pulls) + 1
                pull = {
                    "number": number,
                    "state": "open",
                    "title": data.get("title"),
                    "body": data.get("body"),
                    "head": {"ref": head, "sha": branches[head]},
                    "base": {"ref": base},
                    "html_url": f"{forge.url}/{key}/pull/{number}",
                }
                pulls.append(pull)
                return self._json(201, pull)
            return self._json(404, {"message": "Not Found"})

        def _git(self, body: bytes, auth: str) -> None:
            basic = base64.b64encode(f"x-access-token:{forge.token}".encode()).decode()
            if auth != f"Basic {basic}":
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="forge"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            url = urlparse(self.path)
            env = {
                "PATH": os.environ["PATH"],
                "GIT_PROJECT_ROOT": str(forge.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "REMOTE_USER": "x-access-token",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": url.path.removeprefix("/git"),
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

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    forge.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
