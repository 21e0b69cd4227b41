"""A local, in-memory stand-in for the Hugging Face Hub, for the test suite.

`LocalHub` runs a standard-library HTTP server (HTTP/1.1, keep-alive) that implements the part of the
Hub API that `huggingface_hub`, `transformers` and `datasets` use to create repos, upload and download:

* repo management: ``POST /api/repos/create``, ``DELETE /api/repos/delete``, ``GET /api/whoami-v2``,
  ``POST /api/validate-yaml``;
* repo metadata: ``GET /api/{type}s/{repo}[/revision/{rev}]``, ``.../tree/{rev}[/{path}]``,
  ``POST .../paths-info/{rev}``, ``GET .../refs``, ``GET .../commits/{rev}``, ``POST .../branch/{name}``;
* uploads: ``POST .../preupload/{rev}``, ``POST /{prefix}{repo}.git/info/lfs/objects/batch`` (basic transfer),
  ``PUT /lfs-upload/{sha256}``, ``POST .../commit/{rev}`` (NDJSON);
* downloads: ``GET``/``HEAD /{prefix}{repo}/resolve/{rev}/{path}`` with ``Range`` support;
* Spaces: ``GET``/``POST``/``DELETE /api/spaces/{repo}/variables``, ``GET /api/spaces/{repo}/runtime``.

Errors carry the ``X-Error-Code`` header (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``) that the
clients turn into their typed exceptions. Requests to any other route get a 404 and are recorded in
`LocalHub.unhandled`. The clients must be pointed at the server and kept away from Xet storage *before*
they are imported (``HF_ENDPOINT=<LocalHub.endpoint>``, ``HF_HUB_DISABLE_XET=1``); use `free_port` to
know the endpoint before the server starts.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import logging
import re
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger(__name__)

USER: dict[str, Any] = {
    "type": "user",
    "id": "0" * 24,
    "name": "user",
    "fullname": "Local Hub User",
    "email": "user@localhost",
    "emailVerified": True,
    "isPro": False,
    "orgs": [{"type": "org", "name": "org", "fullname": "Local Hub Org", "roleInOrg": "admin"}],
    "auth": {"type": "access_token", "accessToken": {"displayName": "local", "role": "write"}},
}
"""What ``whoami`` returns, for any token. Repos created without a namespace go to ``USER["name"]``."""

LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
"""Files at least this large are uploaded through LFS, like on the Hub."""

DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z *.arrow *.bin *.bz2 *.ckpt *.ftz *.gz *.h5 *.joblib *.model *.msgpack *.npy *.npz *.onnx *.ot"
        " *.parquet *.pb *.pickle *.pkl *.pt *.pth *.safetensors *.tar *.tflite *.tgz *.wasm *.xz *.zip *.zst"
        " *.jpg *.jpeg *.png *.webp *.gif *.mp3 *.mp4 *.wav *tfevents*"
    ).split()
).encode()
"""Content of the ``.gitattributes`` file of the initial commit; its ``filter=lfs`` patterns select LFS uploads."""

_URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space", None: "model"}
_SPACE_RUNTIME = {
    "stage": "RUNNING",
    "hardware": {"current": "cpu-basic", "requested": "cpu-basic"},
    "storage": None,
    "gcTimeout": 172800,
}


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on `host` right now, so that an endpoint URL can be built in advance."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _now() -> str:
    """Current UTC time in the Hub's date format (``2024-01-31T12:00:00.000Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


@dataclass
class Blob:
    """The content of a file in a commit; `lfs` files are stored in git as pointer files."""

    data: bytes
    lfs: bool
    sha256: str = field(init=False)
    oid: str = field(init=False)
    """Git blob id: of the content for regular files, of the pointer file for LFS files."""
    pointer_size: int = field(init=False)

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.data).hexdigest()
        stored = self.data
        if self.lfs:
            stored = f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n"
            stored = stored.encode()
        self.pointer_size = len(stored)
        self.oid = _sha1(b"blob %d\0" % len(stored) + stored)

    @property
    def etag(self) -> str:
        """What the Hub sends as ``ETag`` when resolving the file: sha256 for LFS files, the git blob id otherwise."""
        return self.sha256 if self.lfs else self.oid


@dataclass
class Commit:
    """An immutable snapshot of all the files of a repo."""

    oid: str
    title: str
    message: str
    date: str
    parent: str | None
    files: dict[str, Blob]

    def is_dir(self, path: str) -> bool:
        return any(name.startswith(path + "/") for name in self.files)

    def file_entry(self, path: str) -> dict[str, Any]:
        """A ``tree``/``paths-info`` entry for a file."""
        blob = self.files[path]
        entry: dict[str, Any] = {"type": "file", "path": path, "size": len(blob.data), "oid": blob.oid}
        if blob.lfs:
            entry["lfs"] = {"oid": blob.sha256, "size": len(blob.data), "pointerSize": blob.pointer_size}
        return entry

    def dir_entry(self, path: str) -> dict[str, Any]:
        """A ``tree``/``paths-info`` entry for a directory; its id is derived from the files below it."""
        below = sorted((name, blob.oid) for name, blob in self.files.items() if name.startswith(path + "/"))
        listing = "".join(f"{name} {oid}\n" for name, oid in below)
        return {"type": "directory", "path": path, "size": 0, "oid": _sha1(listing.encode())}

    def tree(self, path: str, recursive: bool) -> list[dict[str, Any]]:
        """Entries below directory `path` ("" for the root): direct children, or everything if `recursive`."""
        if path and not self.is_dir(path):
            raise HubError(404, f"Directory {path!r} not found at {self.oid}", "EntryNotFound", commit=self.oid)
        prefix = path + "/" if path else ""
        entries, seen_dirs = [], set()
        for name in sorted(self.files):
            if not name.startswith(prefix):
                continue
            parts = name[len(prefix) :].split("/")
            for depth in range(1, len(parts) if recursive else min(2, len(parts))):
                directory = prefix + "/".join(parts[:depth])
                if directory not in seen_dirs:
                    seen_dirs.add(directory)
                    entries.append(self.dir_entry(directory))
            if recursive or len(parts) == 1:
                entries.append(self.file_entry(name))
        return entries

    def lfs_patterns(self) -> list[str]:
        """The ``filter=lfs`` patterns of the commit's ``.gitattributes``."""
        gitattributes = self.files.get(".gitattributes")
        lines = gitattributes.data.decode(errors="replace").splitlines() if gitattributes else []
        return [line.split()[0] for line in lines if "filter=lfs" in line]


@dataclass
class Repo:
    """A model, dataset or Space repo: branches pointing into a commit graph, plus Space variables."""

    type: str
    id: str
    private: bool
    sdk: str | None
    created_at: str = field(default_factory=_now)
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit:
        """The commit a branch name (also as ``refs/heads/...``) or a full or abbreviated commit id points to."""
        branch = revision.removeprefix("refs/heads/")
        if branch in self.branches:
            return self.commits[self.branches[branch]]
        if re.fullmatch(r"[0-9a-f]{7,40}", revision):
            matches = [oid for oid in self.commits if oid.startswith(revision)]
            if len(matches) == 1:
                return self.commits[matches[0]]
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def add_commit(self, branch: str, files: dict[str, Blob], title: str, message: str = "") -> Commit:
        """Record a commit on `branch` (created if missing) whose snapshot is `files`."""
        parent = self.branches.get(branch)
        seed = json.dumps([parent, title, len(self.commits), _now(), sorted((k, b.oid) for k, b in files.items())])
        commit = Commit(_sha1(seed.encode()), title, message, _now(), parent, dict(files))
        self.commits[commit.oid] = commit
        self.branches[branch] = commit.oid
        return commit

    def history(self, commit: Commit) -> list[Commit]:
        """`commit` and its ancestors, newest first."""
        commits = [commit]
        while commits[-1].parent is not None:
            commits.append(self.commits[commits[-1].parent])
        return commits


class HubError(Exception):
    """An error answer; `code` goes to ``X-Error-Code``, `commit` to ``X-Repo-Commit``."""

    def __init__(self, status: int, message: str, code: str | None = None, commit: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.commit = status, message, code, commit

    def reply(self) -> Reply:
        headers = {"X-Error-Message": self.message.encode("ascii", "replace").decode()}
        if self.code:
            headers["X-Error-Code"] = self.code
        if self.commit:
            headers["X-Repo-Commit"] = self.commit
        return json_reply({"error": self.message}, self.status, headers)


@dataclass
class Request:
    """A parsed request, as handed to the route handlers of `LocalHub`."""

    method: str
    params: dict[str, str]
    """Route parameters, percent-decoded (except ``rest``, see `_split_revision`)."""
    query: dict[str, list[str]]
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}

    def flag(self, name: str) -> bool:
        return self.query.get(name, ["false"])[0].lower() in ("1", "true")


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})


def _split_revision(rest: str) -> tuple[str, str]:
    """Split the raw ``{rev}/{path}`` tail of a URL. The revision is one percent-encoded segment, except that
    special refs (``refs/pr/1``, ``refs/convert/parquet``) may also come unencoded."""
    parts = rest.split("/")
    n = 3 if parts[0] == "refs" and len(parts) >= 3 else 1
    return unquote("/".join(parts[:n])), unquote("/".join(parts[n:]))


_T = r"(?P<type>models|datasets|spaces)"
_R = r"(?P<repo>[^/]+/[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (methods, re.compile(pattern), handler)
    for methods, pattern, handler in [
        ("GET", r"/api/whoami-v2", "_whoami"),
        ("POST", r"/api/validate-yaml", "_validate_yaml"),
        ("POST", r"/api/repos/create", "_create_repo"),
        ("DELETE", r"/api/repos/delete", "_delete_repo"),
        ("GET", rf"/api/{_T}/{_R}(?:/revision/(?P<rev>[^/]+))?", "_repo_info"),
        ("GET", rf"/api/{_T}/{_R}/tree/(?P<rest>.+)", "_tree"),
        ("POST", rf"/api/{_T}/{_R}/paths-info/(?P<rev>[^/]+)", "_paths_info"),
        ("GET", rf"/api/{_T}/{_R}/refs", "_refs"),
        ("GET", rf"/api/{_T}/{_R}/commits/(?P<rev>[^/]+)", "_commits"),
        ("POST", rf"/api/{_T}/{_R}/branch/(?P<branch>[^/]+)", "_create_branch"),
        ("POST", rf"/api/{_T}/{_R}/preupload/(?P<rev>[^/]+)", "_preupload"),
        ("POST", rf"/api/{_T}/{_R}/commit/(?P<rev>[^/]+)", "_commit"),
        ("GET POST DELETE", rf"/api/(?P<type>spaces)/{_R}/variables", "_space_variables"),
        ("GET", rf"/api/(?P<type>spaces)/{_R}/runtime", "_space_runtime"),
        ("POST", rf"/(?:(?P<type>datasets|spaces)/)?{_R}\.git/info/lfs/objects/batch", "_lfs_batch"),
        ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", "_lfs_upload"),
        ("GET HEAD", rf"/(?:(?P<type>datasets|spaces)/)?{_R}/resolve/(?P<rest>.+)", "_resolve"),
    ]
]


class LocalHub:
    """An in-memory Hugging Face Hub served on ``http://{host}:{port}`` from a daemon thread.

    Usage: ``with LocalHub(port=free_port()) as hub: ...`` or ``hub.start()`` / ``hub.stop()``. Any token is
    accepted and every user may write to every namespace.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """`port=0` picks a free port when the server starts; `endpoint` is only known from then on."""
        self.host, self.port = host, port
        self.unhandled: list[str] = []
        """``"METHOD /path"`` of the requests no route matched (they got a 404)."""
        self._lock = threading.Lock()
        self._repos: dict[tuple[str, str], Repo] = {}
        self._lfs_objects: dict[str, bytes] = {}
        self._server: _HubHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        if not self.port:
            raise RuntimeError("The port of the LocalHub is chosen when it starts: start it first or pass a port.")
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalHub:
        self._server = _HubHTTPServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-hub", daemon=True)
        self._thread.start()
        logger.info("LocalHub serving on %s", self.endpoint)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
        self._server = self._thread = None

    def reset(self) -> None:
        """Forget all repos, uploaded LFS objects and unhandled requests."""
        with self._lock:
            self._repos.clear()
            self._lfs_objects.clear()
            self.unhandled.clear()

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- dispatch ---------------------------------------------------------------------------------------

    def dispatch(self, method: str, target: str, headers: Message, body: bytes) -> Reply:
        """Answer one HTTP request (`target` is the request line's path and query)."""
        url = urlsplit(target)
        for methods, pattern, name in _ROUTES:
            match = pattern.fullmatch(url.path)
            if match and method in methods.split():
                params = {k: (v if k == "rest" else unquote(v)) for k, v in match.groupdict().items() if v is not None}
                request = Request(method, params, parse_qs(url.query), headers, body)
                handler: Callable[[Request], Reply] = getattr(self, name)
                try:
                    with self._lock:
                        return handler(request)
                except HubError as error:
                    return error.reply()
        logger.warning("LocalHub: no route for %s %s", method, target)
        with self._lock:
            self.unhandled.append(f"{method} {target}")
        return HubError(404, f"LocalHub has no route for {method} {url.path}").reply()

    def _url(self, repo_type: str, repo_id: str) -> str:
        return f"{self.endpoint}/{_URL_PREFIXES[repo_type]}{repo_id}"

    def _repo(self, request: Request) -> Repo:
        key = (_TYPES[request.params.get("type")], request.params["repo"])
        if key not in self._repos:
            raise HubError(404, f"Repository {key[1]} ({key[0]}) not found", "RepoNotFound")
        return self._repos[key]

    def _branch_head(self, repo: Repo, branch: str) -> Commit:
        """The head commit of `branch`, which must be a branch (not a commit id) as uploads go to branches."""
        if branch.removeprefix("refs/heads/") not in repo.branches:
            raise HubError(404, f"Branch {branch!r} not found in {repo.id}", "RevisionNotFound")
        return repo.resolve(branch)

    # -- account and repos ------------------------------------------------------------------------------

    def _whoami(self, request: Request) -> Reply:
        return json_reply(USER)

    def _validate_yaml(self, request: Request) -> Reply:
        return json_reply({"errors": [], "warnings": []})

    def _create_repo(self, request: Request) -> Reply:
        payload = request.json()
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or USER['name']}/{payload['name']}"
        url = self._url(repo_type, repo_id)
        if (repo_type, repo_id) in self._repos:
            return json_reply({"error": f"You already created this {repo_type} repo", "url": url}, 409)
        if repo_type == "space" and not payload.get("sdk"):
            raise HubError(400, "A Space needs an sdk")
        private = bool(payload.get("private")) or payload.get("visibility") == "private"
        repo = Repo(repo_type, repo_id, private, payload.get("sdk"))
        repo.add_commit("main", {".gitattributes": Blob(DEFAULT_GITATTRIBUTES, lfs=False)}, "initial commit")
        for variable in payload.get("variables") or []:
            repo.variables[variable["key"]] = {**variable, "updatedAt": _now()}
        self._repos[(repo_type, repo_id)] = repo
        return json_reply({"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self, request: Request) -> Reply:
        payload = request.json()
        key = (payload.get("type") or "model", f"{payload.get('organization') or USER['name']}/{payload['name']}")
        if self._repos.pop(key, None) is None:
            raise HubError(404, f"Repository {key[1]} ({key[0]}) not found", "RepoNotFound")
        return json_reply({})

    def _repo_info(self, request: Request) -> Reply:
        repo = self._repo(request)
        commit = repo.resolve(request.params.get("rev", "main"))
        siblings = []
        for entry in (commit.file_entry(path) for path in sorted(commit.files)):
            sibling = {"rfilename": entry["path"], "size": entry["size"], "blobId": entry["oid"]}
            if "lfs" in entry:
                lfs = entry["lfs"]
                sibling["lfs"] = {"sha256": lfs["oid"], "size": lfs["size"], "pointerSize": lfs["pointerSize"]}
            siblings.append(sibling)
        info: dict[str, Any] = {
            "_id": _sha1(repo.id.encode())[:24],
            "id": repo.id,
            "author": repo.id.split("/")[0],
            "sha": commit.oid,
            "createdAt": repo.created_at,
            "lastModified": commit.date,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
        }
        if repo.type == "space":
            info.update(sdk=repo.sdk, runtime=_SPACE_RUNTIME, subdomain=repo.id.replace("/", "-").lower())
        return json_reply(info)

    def _tree(self, request: Request) -> Reply:
        revision, path = _split_revision(request.params["rest"])
        commit = self._repo(request).resolve(revision)
        return json_reply(commit.tree(path.strip("/"), recursive=request.flag("recursive")))

    def _paths_info(self, request: Request) -> Reply:
        commit = self._repo(request).resolve(request.params["rev"])
        if request.headers.get("Content-Type", "").startswith("application/json"):
            paths = request.json().get("paths", [])
        else:  # form-encoded, which is what `HfApi.get_paths_info` sends
            paths = parse_qs(request.body.decode()).get("paths", [])
        entries = []
        for path in (p.strip("/") for p in paths):
            if path in commit.files:
                entries.append(commit.file_entry(path))
            elif path and commit.is_dir(path):
                entries.append(commit.dir_entry(path))
        return json_reply(entries)

    def _refs(self, request: Request) -> Reply:
        branches = [
            {"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid}
            for name, oid in self._repo(request).branches.items()
        ]
        return json_reply({"branches": branches, "converts": [], "tags": [], "pullRequests": []})

    def _commits(self, request: Request) -> Reply:
        repo = self._repo(request)
        commits = [
            {
                "id": commit.oid,
                "title": commit.title,
                "message": commit.message,
                "date": commit.date,
                "authors": [{"user": USER["name"]}],
            }
            for commit in repo.history(repo.resolve(request.params["rev"]))
        ]
        return json_reply(commits)

    def _create_branch(self, request: Request) -> Reply:
        repo, branch = self._repo(request), request.params["branch"]
        if branch in repo.branches:
            raise HubError(409, f"Reference refs/heads/{branch} already exists")
        repo.branches[branch] = repo.resolve(request.json().get("startingPoint") or "main").oid
        return json_reply({})

    # -- uploads ----------------------------------------------------------------------------------------

    def _preupload(self, request: Request) -> Reply:
        head = self._branch_head(self._repo(request), request.params["rev"])
        patterns = head.lfs_patterns()
        files = []
        for item in request.json()["files"]:
            path, sample = item["path"], base64.b64decode(item["sample"])
            lfs = (
                item["size"] >= LFS_SIZE_THRESHOLD
                or b"\0" in sample
                or any(fnmatch.fnmatch(path.rsplit("/", 1)[-1], p) or fnmatch.fnmatch(path, p) for p in patterns)
            )
            existing = head.files.get(path)
            files.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": existing.etag if existing else None,
                }
            )
        return json_reply({"files": files, "commitOid": head.oid})

    def _lfs_batch(self, request: Request) -> Reply:
        self._repo(request)
        objects = []
        for obj in request.json()["objects"]:
            answer = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self._lfs_objects:
                answer["actions"] = {"upload": {"href": f"{self.endpoint}/lfs-upload/{obj['oid']}"}}
            objects.append(answer)
        lfs_json = {"Content-Type": "application/vnd.git-lfs+json"}
        return json_reply({"transfer": "basic", "objects": objects}, headers=lfs_json)

    def _lfs_upload(self, request: Request) -> Reply:
        oid = request.params["oid"]
        if hashlib.sha256(request.body).hexdigest() != oid:
            raise HubError(400, f"Uploaded content does not match LFS oid {oid}")
        self._lfs_objects[oid] = request.body
        return Reply()

    def _commit(self, request: Request) -> Reply:
        repo = self._repo(request)
        if request.flag("create_pr"):
            raise HubError(400, "LocalHub does not support create_pr")
        branch = request.params["rev"].removeprefix("refs/heads/")
        head = self._branch_head(repo, branch)
        lines = [json.loads(line) for line in request.body.splitlines() if line.strip()]
        header = next((line["value"] for line in lines if line["key"] == "header"), {})
        if header.get("parentCommit") not in (None, head.oid):
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(head.files)
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "file":
                files[value["path"]] = Blob(base64.b64decode(value["content"]), lfs=False)
            elif key == "lfsFile":
                if value["oid"] not in self._lfs_objects:
                    raise HubError(400, f"LFS object {value['oid']} of {value['path']} was never uploaded")
                files[value["path"]] = Blob(self._lfs_objects[value["oid"]], lfs=True)
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubError(404, f"File {value['path']} not found", "EntryNotFound", commit=head.oid)
            elif key == "deletedFolder":
                folder = value["path"].strip("/") + "/"
                files = {name: blob for name, blob in files.items() if not name.startswith(folder)}
            elif key != "header":
                raise HubError(400, f"LocalHub does not support commit operation {key!r}")
        commit = repo.add_commit(branch, files, header.get("summary", ""), header.get("description", ""))
        return json_reply(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self._url(repo.type, repo.id)}/commit/{commit.oid}",
                "pullRequestUrl": None,
            }
        )

    # -- downloads --------------------------------------------------------------------------------------

    def _resolve(self, request: Request) -> Reply:
        revision, path = _split_revision(request.params["rest"])
        commit = self._repo(request).resolve(revision)
        if path not in commit.files:
            raise HubError(404, f"Entry {path!r} not found at {commit.oid}", "EntryNotFound", commit=commit.oid)
        blob = commit.files[path]
        headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "ETag": f'"{blob.etag}"',
            "X-Repo-Commit": commit.oid,
        }
        byte_range = re.fullmatch(r"bytes=(\d*)-(\d*)", request.headers.get("Range", "").strip())
        if byte_range is None or byte_range.groups() == ("", ""):
            return Reply(200, blob.data, headers)
        first, last, size = byte_range[1], byte_range[2], len(blob.data)
        start = int(first) if first else max(size - int(last), 0)
        end = min(int(last), size - 1) if first and last else size - 1
        if start >= size or start > end:
            return Reply(416, b"", {**headers, "Content-Range": f"bytes */{size}"})
        return Reply(206, blob.data[start : end + 1], {**headers, "Content-Range": f"bytes {start}-{end}/{size}"})

    # -- Spaces -----------------------------------------------------------------------------------------

    def _space_variables(self, request: Request) -> Reply:
        repo = self._repo(request)
        if request.method == "POST":
            payload = request.json()
            repo.variables[payload["key"]] = {
                "value": payload["value"],
                "description": payload.get("description"),
                "updatedAt": _now(),
            }
        elif request.method == "DELETE":
            repo.variables.pop(request.json()["key"], None)
        return json_reply(repo.variables)

    def _space_runtime(self, request: Request) -> Reply:
        self._repo(request)
        return json_reply(_SPACE_RUNTIME)


class _HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], hub: LocalHub) -> None:
        self.hub = hub
        super().__init__(address, _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 adapter: reads the whole request (so keep-alive connections stay in sync) and hands it to the hub."""

    protocol_version = "HTTP/1.1"
    server: _HubHTTPServer

    def _serve(self) -> None:
        body = self._read_body()
        try:
            reply = self.server.hub.dispatch(self.command, self.path, self.headers, body)
        except Exception as error:  # a bug in the stand-in: report it to the client instead of hanging
            logger.exception("LocalHub failed on %s %s", self.command, self.path)
            reply = HubError(500, f"LocalHub internal error: {error!r}").reply()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _serve

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailer section
            pass
        return b"".join(chunks)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)
