"""A small Python client for a kb server's JSON API (standard library only).

    from kb.client import Client

    kb = Client("http://127.0.0.1:8000", key="kb_...")   # the key is needed for writes
    for r in kb.search("online child protection", k=3)["results"]:
        print(r["relevance"], r["document"]["title"], r["text"][:80])
    job = kb.upload(["annual-2024.pdf"], wait=60)          # a finished job, or a running one
    kb.wait(job["id"])                                     # until it is done or failed

Errors from the server raise `ClientError` with its status, code, message and request id.
"""

from __future__ import annotations

import json
import mimetypes
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterable

__all__ = ["Client", "ClientError"]


class ClientError(Exception):
    """An error answer from kb: `status` (HTTP), `code` (stable), `message`, `request_id`."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.request_id = status, code, message, request_id


class Client:
    def __init__(self, base_url: str, key: str | None = None, timeout: float = 60.0):
        self.base = base_url.rstrip("/") + "/api/v1"
        self.key, self.timeout = key, timeout

    # -- reads -------------------------------------------------------------------------

    def search(self, query: str, k: int | None = None, **params: Any) -> dict:
        """One search: `mode`, `offset`, `filters` (dict), `rerank`, `diversify`, `explain`,
        `min_score`, `highlight` as the API takes them. Returns the API's answer."""
        body = {"query": query, **({"k": k} if k is not None else {}), **params}
        return self._call("POST", "/search", body)

    def batch(self, searches: Iterable[dict]) -> list[dict]:
        """Up to 32 searches (each a dict with "query" and the search fields) in one call."""
        return self._call("POST", "/search/batch", {"queries": list(searches)})["results"]

    def documents(self) -> list[dict]:
        return self._call("GET", "/documents")["documents"]

    def document(self, doc_id: str, offset: int = 0, limit: int = 50) -> dict:
        """A document's metadata and a page of its passages (`next_offset` for the next)."""
        return self._call("GET", f"/documents/{urllib.parse.quote(doc_id)}?offset={offset}&limit={limit}")

    def passage(self, passage_id: str, around: int = 1) -> dict:
        return self._call("GET", f"/passages/{urllib.parse.quote(passage_id)}?around={around}")

    # -- writes (need a key) -----------------------------------------------------------

    def upload(self, paths: Iterable[str | Path], wait: float = 0) -> dict:
        """Upload files to ingest; returns the job (`wait` seconds, at most 60, for it to end)."""
        boundary = secrets.token_hex(16)
        parts = []
        for path in map(Path, paths):
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
                         f"Content-Type: {kind}\r\n\r\n".encode() + path.read_bytes() + b"\r\n")
        data = b"".join(parts) + f"--{boundary}--\r\n".encode()
        answer = self._call("POST", f"/documents?wait={wait}", data, f"multipart/form-data; boundary={boundary}")
        return answer["job"]

    def job(self, job_id: str) -> dict:
        return self._call("GET", f"/jobs/{urllib.parse.quote(job_id)}")

    def wait(self, job_id: str, timeout: float = 600, every: float = 0.5) -> dict:
        """Poll a job until it is done or failed; `TimeoutError` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["state"] in ("done", "failed"):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job['state']} after {timeout} s")
            time.sleep(every)

    def edit(self, doc_id: str, **fields: Any) -> dict:
        return self._call("PATCH", f"/documents/{urllib.parse.quote(doc_id)}", fields)

    def remove(self, doc_id: str) -> dict:
        return self._call("DELETE", f"/documents/{urllib.parse.quote(doc_id)}")["removed"]

    # -- inside ------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                answer = json.load(exc)
            except ValueError:  # not JSON (a proxy's page, say)
                raise ClientError(exc.code, "http_error", str(exc.reason)) from None
            if isinstance(answer, dict) and "job" in answer:
                return answer  # an upload that ended with nothing readable (422): its report and job
            error = answer.get("error", {}) if isinstance(answer, dict) else {}
            raise ClientError(exc.code, error.get("code", "http_error"), error.get("message", str(exc.reason)),
                              error.get("request_id")) from None
