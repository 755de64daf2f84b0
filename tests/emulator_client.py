"""Start and drive the Azure DevOps emulator (``scripts/emulator.py``) from tests.

Standard library only (urllib), plus one pytest fixture. Typical use::

    def test_something(emulator_factory):
        emu = emulator_factory(sample_config())
        result = http_request("GET", f"{emu.org_url('orgA')}/_apis/packaging/feeds",
                              auth=("", "pat-a"))

Import the fixture into a test module with ``pytest_plugins = ["emulator_client"]`` (or from a
conftest). Every emulator the fixture starts is stopped at teardown, even when the test fails.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
EMULATOR_SCRIPT = REPO_ROOT / "scripts" / "emulator.py"
STARTUP_TIMEOUT = 10.0

__all__ = [
    "EMULATOR_SCRIPT",
    "Emulator",
    "EmulatorError",
    "HttpResult",
    "basic_auth",
    "emulator_factory",
    "http_request",
    "sample_config",
]


class EmulatorError(RuntimeError):
    """The emulator failed to start, or a control request failed."""


# --------------------------------------------------------------------------------------------
# HTTP helper


@dataclass
class HttpResult:
    """A response, whatever its status (urllib's HTTPError is turned into this too)."""

    status: int
    headers: Message
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def header_all(self, name: str) -> list[str]:
        return list(self.headers.get_all(name) or [])

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def basic_auth(username: str, password: str) -> str:
    """The value of an ``Authorization: Basic`` header."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return f"Basic {token}"


def http_request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    bearer: str | None = None,
    data: bytes | None = None,
    json_body: Any = None,
    timeout: float = 10.0,
) -> HttpResult:
    """Send one request (never through a proxy) and return the response, errors included."""
    all_headers = dict(headers or {})
    if auth is not None:
        all_headers["Authorization"] = basic_auth(*auth)
    if bearer is not None:
        all_headers["Authorization"] = f"Bearer {bearer}"
    if json_body is not None:
        data = json.dumps(json_body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return HttpResult(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return HttpResult(error.code, error.headers, error.read())


# --------------------------------------------------------------------------------------------
# The emulator process


class Emulator:
    """One running emulator process. Use :meth:`start`; stop with :meth:`stop` or ``with``."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        root_url: str,
        port: int,
        config: Mapping[str, Any],
        workdir: Path,
        stdout_lines: list[str],
        stdout_done: threading.Event,
    ) -> None:
        self.process = process
        self.root_url = root_url
        self.port = port
        self.config = dict(config)
        self.workdir = workdir
        self.log_path = workdir / "emulator.log"
        self.stderr_path = workdir / "emulator.stderr"
        self._stdout_lines = stdout_lines
        self._stdout_done = stdout_done
        self.returncode: int | None = None
        prefix = str(self.config.get("prefix") or "").strip("/")
        self.prefix = prefix
        self.url = f"{root_url}/{prefix}" if prefix else root_url

    @classmethod
    def start(
        cls,
        config: Mapping[str, Any],
        workdir: Path,
        *,
        extra_args: Sequence[str] = (),
        timeout: float = STARTUP_TIMEOUT,
    ) -> Emulator:
        """Write the config into ``workdir``, launch the emulator, wait for its port line."""
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "emulator-config.json"
        config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        command = [
            sys.executable,
            str(EMULATOR_SCRIPT),
            "--port",
            "0",
            "--config",
            str(config_path),
            "--log",
            str(workdir / "emulator.log"),
            *extra_args,
        ]
        stderr = open(workdir / "emulator.stderr", "wb")  # noqa: SIM115 - handed to the child
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=str(REPO_ROOT),
            )
        finally:
            stderr.close()
        lines: list[str] = []
        first: queue.Queue[str] = queue.Queue()
        done = threading.Event()

        def read_stdout() -> None:
            assert process.stdout is not None
            for raw in process.stdout:
                line = raw.decode("utf-8", "replace")
                if not lines:
                    first.put(line)
                lines.append(line)
            process.stdout.close()
            first.put("")
            done.set()

        threading.Thread(target=read_stdout, daemon=True).start()
        try:
            line = first.get(timeout=timeout)
        except queue.Empty:
            line = ""
        try:
            info = json.loads(line)
            port = int(info["port"])
            url = str(info["url"])
        except (ValueError, KeyError, TypeError):
            _terminate(process)
            message = (workdir / "emulator.stderr").read_text(encoding="utf-8", errors="replace")
            raise EmulatorError(
                f"emulator did not start (exit code {process.returncode}): {message.strip()}"
            ) from None
        return cls(process, url, port, config, workdir, lines, done)

    # ---- URLs ------------------------------------------------------------------------------

    def org_url(self, org: str) -> str:
        return f"{self.url}/{_quote(org)}"

    def index_url(
        self, org: str, feed: str, project: str | None = None, view: str | None = None
    ) -> str:
        """Name-form simple index URL, ending ``/pypi/simple/``."""
        project_part = f"/{_quote(project)}" if project else ""
        view_part = f"@{_quote(view)}" if view else ""
        return (
            f"{self.org_url(org)}{project_part}/_packaging/{_quote(feed)}{view_part}/pypi/simple/"
        )

    def feed_info(self, org: str, feed: str) -> dict[str, Any]:
        """The feed's entry in :meth:`state` (ids, project, views, packages)."""
        for org_state in self.state()["organizations"]:
            if org_state["name"].casefold() != org.casefold():
                continue
            for feed_state in org_state["feeds"]:
                if feed.casefold() in (feed_state["name"].casefold(), feed_state["id"]):
                    return dict(feed_state)
        raise EmulatorError(f"no feed {feed!r} in {org!r}")

    def uuid_index_url(self, org: str, feed: str, view: str | None = None) -> str:
        """UUID-form simple index URL of a feed (and view), from the live state."""
        info = self.feed_info(org, feed)
        project_part = f"/{info['project_id']}" if info["project_id"] else ""
        feed_part = info["id"]
        if view is not None:
            matches = [v["id"] for v in info["views"] if v["name"].casefold() == view.casefold()]
            if not matches:
                raise EmulatorError(f"no view {view!r} in feed {feed!r}")
            feed_part += f"@{matches[0]}"
        return f"{self.org_url(org)}{project_part}/_packaging/{feed_part}/pypi/simple/"

    # ---- request log -----------------------------------------------------------------------

    def log(self) -> list[dict[str, Any]]:
        """Every request record in the log file, oldest first."""
        if not self.log_path.exists():
            return []
        text = self.log_path.read_text(encoding="utf-8")
        complete = text.split("\n")[:-1]  # a line still being written has no newline yet
        return [json.loads(line) for line in complete if line.strip()]

    def count(
        self, route: str | None = None, org: str | None = None, status: int | None = None
    ) -> int:
        """How many logged requests match. Control requests count only with route="control"."""
        total = 0
        for record in self.log():
            if route is None and record["route"] == "control":
                continue
            if route is not None and record["route"] != route:
                continue
            if org is not None and (record["org"] or "").casefold() != org.casefold():
                continue
            if status is not None and record["status"] != status:
                continue
            total += 1
        return total

    def clear_log(self) -> None:
        """Empty the log file and the in-memory request list (the clear itself is not logged)."""
        self._control("POST", "requests/clear")

    def stdout_text(self) -> str:
        """Everything the process wrote to stdout so far (complete once stopped)."""
        return "".join(self._stdout_lines)

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    # ---- control API -----------------------------------------------------------------------

    def _control(self, method: str, action: str, payload: Any = None) -> Any:
        result = http_request(
            method,
            f"{self.root_url}/_emulator/{action}",
            json_body=payload if payload is not None else ({} if method == "POST" else None),
        )
        if result.status != 200:
            raise EmulatorError(f"{method} /_emulator/{action}: {result.status} {result.text}")
        return result.json()

    def health(self) -> bool:
        return bool(self._control("GET", "health").get("ok"))

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self._control("GET", "state")
        return state

    def requests(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self._control("GET", "requests")
        return records

    def set_faults(self, org: str, faults: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = self._control(
            "POST", "faults", {"org": org, "faults": [dict(f) for f in faults]}
        )
        return result

    def set_latency(self, org: str, ms: int) -> dict[str, Any]:
        result: dict[str, Any] = self._control("POST", "faults", {"org": org, "latency_ms": ms})
        return result

    def recreate_feed(self, org: str, feed: str) -> dict[str, Any]:
        result: dict[str, Any] = self._control("POST", "recreate-feed", {"org": org, "feed": feed})
        return result

    def create_feed(self, org: str, feed: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._control(
            "POST", "create-feed", {"org": org, "feed": dict(feed)}
        )
        return result

    def set_anonymous(self, org: str, anonymous: bool) -> dict[str, Any]:
        """Let an organization answer without credentials (or require them again)."""
        result: dict[str, Any] = self._control("POST", "auth", {"org": org, "anonymous": anonymous})
        return result

    def set_server(self, org: str, **options: Any) -> dict[str, Any]:
        """The organization's server options: ``server`` (a release such as "2019.1"),
        ``legacy_list``, ``legacy_views``, ``projects_api``; returns its server description."""
        result: dict[str, Any] = self._control("POST", "server", {"org": org, **options})
        return result

    def rename_feed(self, org: str, feed: str, new_name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._control(
            "POST", "rename-feed", {"org": org, "feed": feed, "new_name": new_name}
        )
        return result

    def rename_project(self, org: str, project: str, new_name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._control(
            "POST", "rename-project", {"org": org, "project": project, "new_name": new_name}
        )
        return result

    def delete_feed(self, org: str, feed: str) -> dict[str, Any]:
        result: dict[str, Any] = self._control("POST", "delete-feed", {"org": org, "feed": feed})
        return result

    def publish(self, org: str, feed: str, package: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._control(
            "POST", "publish", {"org": org, "feed": feed, "package": dict(package)}
        )
        return result

    # ---- lifecycle -------------------------------------------------------------------------

    def stop(self, timeout: float = 5.0) -> int:
        """Ask it to shut down (POST /_emulator/shutdown: exit 0 on every system), then SIGTERM
        or terminate, then kill on timeout. Returns the exit code (idempotent)."""
        if self.returncode is None:
            if self.process.poll() is None:
                try:
                    http_request("POST", f"{self.root_url}/_emulator/shutdown", timeout=timeout)
                    self.process.wait(timeout)
                except (OSError, subprocess.TimeoutExpired):
                    pass  # not answering: the signals below
            self.returncode = _terminate(self.process, timeout)
            self._stdout_done.wait(timeout)
        return self.returncode

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _terminate(process: subprocess.Popen[bytes], timeout: float = 5.0) -> int:
    if process.poll() is None:
        if os.name == "posix":
            process.send_signal(signal.SIGTERM)
        else:
            process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    returncode = process.returncode
    assert returncode is not None
    return returncode


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


# --------------------------------------------------------------------------------------------
# Sample data and fixture


def sample_config() -> dict[str, Any]:
    """Two organizations on one host, each accepting only its own PAT and token.

    * ``orgA`` (PAT ``pat-a``, token ``token-a``): project ``ProjectX`` with feed ``feedx``
      (``alpha`` 1.0.0 and 1.1.0, which depend on ``beta>=1``, and ``beta`` 1.2.0; alpha 1.1.0 is
      only in the ``Local`` and ``Prerelease`` views), and the org-scoped feed ``shared``
      (``gamma`` 0.1.0).
    * ``orgB`` (PAT ``pat-b``, token ``token-b``): project ``Project Y`` (with a space) with feed
      ``feedy`` (``delta`` 2.0.0 and ``zeta-tools`` 0.3.0, which depends on ``delta>=2``).
    """
    return {
        "organizations": [
            {
                "name": "orgA",
                "pats": ["pat-a"],
                "tokens": ["token-a"],
                "projects": [{"name": "ProjectX"}],
                "feeds": [
                    {
                        "name": "feedx",
                        "project": "ProjectX",
                        "packages": [
                            {
                                "name": "alpha",
                                "version": "1.0.0",
                                "requires": ["beta>=1"],
                                "requires_python": ">=3.8",
                            },
                            {
                                "name": "alpha",
                                "version": "1.1.0",
                                "requires": ["beta>=1"],
                                "requires_python": ">=3.8",
                                "views": ["Local", "Prerelease"],
                            },
                            {"name": "beta", "version": "1.2.0"},
                        ],
                    },
                    {"name": "shared", "packages": [{"name": "gamma", "version": "0.1.0"}]},
                ],
            },
            {
                "name": "orgB",
                "pats": ["pat-b"],
                "tokens": ["token-b"],
                "projects": [{"name": "Project Y"}],
                "feeds": [
                    {
                        "name": "feedy",
                        "project": "Project Y",
                        "packages": [
                            {"name": "delta", "version": "2.0.0"},
                            {"name": "zeta-tools", "version": "0.3.0", "requires": ["delta>=2"]},
                        ],
                    }
                ],
            },
        ]
    }


def own_pats_config(pat_a: str, pat_b: str, *, token_a: str | None = None) -> dict[str, Any]:
    """``sample_config()`` with one PAT per organization (and orgA's Entra token, if given)."""
    cfg = sample_config()
    org_a, org_b = cfg["organizations"]
    org_a["pats"], org_a["tokens"] = [pat_a], [token_a] if token_a else []
    org_b["pats"], org_b["tokens"] = [pat_b], []
    return cfg


@pytest.fixture
def emulator_factory(tmp_path: Path) -> Iterator[Callable[..., Emulator]]:
    """``make(config, *, extra_args=()) -> Emulator``; all are stopped at teardown."""
    started: list[Emulator] = []

    def make(config: Mapping[str, Any], *, extra_args: Sequence[str] = ()) -> Emulator:
        workdir = tmp_path / f"emulator-{len(started)}"
        emulator = Emulator.start(config, workdir, extra_args=extra_args)
        started.append(emulator)
        return emulator

    try:
        yield make
    finally:
        for emulator in started:
            emulator.stop()
