"""A small client of etcd's JSON gateway: the v3 API as JSON over HTTP/1.1 (``/v3/kv/range``,
``/v3/watch``, ``/v3/lease/...``), which every etcd 3.4+ member serves on its client port.

Every request has a timeout; a watch is a streamed response read line by line, whose ``close()``
(from any thread) ends a read blocked on it. Requests ask etcd to refuse service from a member
without a leader (``hasleader`` metadata), so a member cut off from its cluster fails fast.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from typing import Any

try:
    import urllib3
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ringroute.membership needs urllib3: install the extra, `pip install 'ringroute[etcd]'`"
    ) from e

__all__ = ["EtcdError", "CompactedError", "Gateway", "WatchStream", "prefix_end"]

_HEADERS = {"Content-Type": "application/json", "Grpc-Metadata-hasleader": "true"}
# etcd's gRPC code for a revision older than the compacted one (OutOfRange).
_OUT_OF_RANGE = 11


class EtcdError(Exception):
    """etcd could not be reached in time, or refused a request."""


class CompactedError(EtcdError):
    """The revision asked for is older than etcd's compacted history."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def prefix_end(prefix: bytes) -> bytes:
    """The end of the key range of ``prefix`` (etcd's ``range_end`` for a prefix)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"  # every key


def _int(value: object, what: str) -> int:
    """An int64 of the gateway's JSON (a decimal string; absent is 0)."""
    if value is None:
        return 0
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if type(value) is int:
        return value
    raise EtcdError(f"unexpected {what} in etcd's answer: {value!r}")


def header_revision(answer: dict[str, Any]) -> int:
    header = answer.get("header")
    if not isinstance(header, dict):
        raise EtcdError("etcd's answer has no header")
    return _int(header.get("revision"), "revision")


def _base_url(endpoint: str) -> str:
    if not isinstance(endpoint, str) or not endpoint:
        raise TypeError(f"an etcd endpoint must be a non-empty str, not {endpoint!r}")
    if endpoint.startswith("http://"):
        return endpoint.rstrip("/")
    if "://" in endpoint:
        raise ValueError(f"etcd endpoint {endpoint!r}: only host:port or http://host:port")
    return f"http://{endpoint}"


def _error(url: str, status: int, data: bytes) -> EtcdError:
    try:
        answer = json.loads(data)
        message = str(answer.get("message") or answer.get("error") or answer)
        code = answer.get("code")
    except (ValueError, AttributeError):
        message, code = data[:200].decode("utf-8", "replace"), None
    if code == _OUT_OF_RANGE and "compacted" in message:
        return CompactedError(f"{url}: {message}")
    return EtcdError(f"{url}: HTTP {status}: {message}")


class WatchStream:
    """One watch: the streamed answer of ``/v3/watch``, a JSON object per line."""

    def __init__(self, response: urllib3.BaseHTTPResponse, url: str) -> None:
        self._response = response
        self._url = url
        self._closed = False

    def messages(self) -> Iterator[dict[str, Any]]:
        """The watch's ``result`` objects as they arrive; ends when the stream ends or is closed
        (``EtcdError`` for an error message or a broken connection)."""
        buffer = b""
        try:
            while True:
                chunk = self._response.read1(65536)
                if not chunk:
                    if self._closed:
                        return
                    raise EtcdError(f"{self._url}: the watch stream ended")
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    message = json.loads(line)
                    if not isinstance(message, dict):
                        raise EtcdError(f"{self._url}: unexpected watch message {line[:200]!r}")
                    if "result" not in message:
                        error = message.get("error", message)
                        raise EtcdError(f"{self._url}: watch error: {error}")
                    result = message["result"]
                    if not isinstance(result, dict):
                        raise EtcdError(f"{self._url}: unexpected watch message {line[:200]!r}")
                    yield result
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as e:
            if self._closed:
                return
            raise EtcdError(f"{self._url}: watch: {e}") from e

    def close(self) -> None:
        """Ends the watch; a read blocked in ``messages()`` in another thread returns."""
        self._closed = True
        try:
            self._response.shutdown()
        except Exception:  # noqa: BLE001 - best effort on a connection being torn down
            pass
        self._response.release_conn()


class Gateway:
    """The JSON gateway of an etcd cluster: one endpoint at a time, the next after a failure."""

    def __init__(self, endpoints: Sequence[str], timeout: float) -> None:
        if isinstance(endpoints, (str, bytes)) or not isinstance(endpoints, Sequence):
            raise TypeError("endpoints must be a list of 'host:port' strings")
        if not endpoints:
            raise ValueError("no etcd endpoints")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self._urls = [_base_url(e) for e in endpoints]
        self._next = 0
        self.timeout = float(timeout)
        self._pool = urllib3.PoolManager(num_pools=len(self._urls) + 1, maxsize=4, retries=False)

    @property
    def members(self) -> int:
        """How many endpoints there are."""
        return len(self._urls)

    @property
    def url(self) -> str:
        """The base URL of the member requests go to now."""
        return self._urls[self._next % len(self._urls)]

    def rotate(self) -> None:
        """Sends the next requests to the next member."""
        self._next = (self._next + 1) % len(self._urls)

    def call(self, path: str, body: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """POSTs ``body`` to ``path`` (``/v3/...``); the JSON answer, or ``EtcdError``."""
        url = self.url + path
        t = self.timeout if timeout is None else timeout
        try:
            response = self._pool.request(
                "POST",
                url,
                body=json.dumps(body).encode(),
                headers=_HEADERS,
                timeout=urllib3.Timeout(connect=t, read=t),
                retries=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise EtcdError(f"{url}: {e}") from e
        if response.status != 200:
            raise _error(url, response.status, response.data)
        try:
            answer = json.loads(response.data)
        except ValueError as e:
            raise EtcdError(f"{url}: not JSON: {e}") from e
        if not isinstance(answer, dict):
            raise EtcdError(f"{url}: unexpected answer {response.data[:200]!r}")
        if "error" in answer:
            raise _error(url, response.status, response.data)
        return answer

    def range_prefix(
        self, root: bytes, revision: int = 0
    ) -> tuple[int, list[tuple[bytes, bytes]]]:
        """Every key under ``root`` and its value, at ``revision`` (0: the latest), and the
        revision read."""
        body: dict[str, Any] = {"key": b64(root), "range_end": b64(prefix_end(root))}
        if revision > 0:
            body["revision"] = str(revision)
        answer = self.call("/v3/kv/range", body)
        read = header_revision(answer)
        items = []
        for kv in answer.get("kvs") or []:
            items.append((unb64(kv["key"]), unb64(kv.get("value", ""))))
        return (revision if revision > 0 else read), items

    def probe(self, root: bytes, timeout: float) -> int:
        """A cheap request to the current member (one key of ``root``, no values); its revision.
        Fails if the member has no leader."""
        body = {
            "key": b64(root),
            "range_end": b64(prefix_end(root)),
            "limit": "1",
            "keys_only": True,
            "serializable": True,
        }
        return header_revision(self.call("/v3/kv/range", body, timeout))

    def watch(self, root: bytes, start_revision: int) -> WatchStream:
        """Watches every key under ``root`` from ``start_revision`` on."""
        url = self.url + "/v3/watch"
        body = {
            "create_request": {
                "key": b64(root),
                "range_end": b64(prefix_end(root)),
                "start_revision": str(start_revision),
            }
        }
        try:
            response = self._pool.request(
                "POST",
                url,
                body=json.dumps(body).encode(),
                headers=_HEADERS,
                timeout=urllib3.Timeout(connect=self.timeout, read=None),
                retries=False,
                preload_content=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise EtcdError(f"{url}: {e}") from e
        if response.status != 200:
            data = response.read()
            response.release_conn()
            raise _error(url, response.status, data)
        return WatchStream(response, url)

    def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        """Puts ``value`` at ``key`` (under ``lease`` if not 0); the revision of the put."""
        body: dict[str, Any] = {"key": b64(key), "value": b64(value)}
        if lease:
            body["lease"] = str(lease)
        return header_revision(self.call("/v3/kv/put", body))

    def lease_grant(self, ttl: int) -> int:
        """A new lease of ``ttl`` seconds; its id."""
        return _int(self.call("/v3/lease/grant", {"TTL": str(ttl)}).get("ID"), "lease id")

    def lease_keep_alive(self, lease: int) -> int:
        """Refreshes ``lease``; its remaining ttl (0: the lease is gone)."""
        answer = self.call("/v3/lease/keepalive", {"ID": str(lease)})
        result = answer.get("result", answer)
        return _int(result.get("TTL") if isinstance(result, dict) else None, "ttl")

    def lease_revoke(self, lease: int) -> None:
        """Revokes ``lease``, which deletes every key under it."""
        self.call("/v3/lease/revoke", {"ID": str(lease)})

    def close(self) -> None:
        self._pool.clear()
