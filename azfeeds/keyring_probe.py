"""Keyring set-ups as uv sees them: the provider setting, the user name hint, the keyring call.

uv's Azure guide writes ``https://VssSessionToken@pkgs.dev.azure.com/...`` with
``keyring-provider = "subprocess"`` (or ``UV_KEYRING_PROVIDER``). uv then runs
``keyring get <url> <user name>`` and sends what it prints as the password. ``doctor`` asks the
same question the same way, never interactively and with a timeout, so that a CI job never hangs,
and registers the answer as a secret before anything else sees it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .secrets import register_secret
from .urls import AzureUrl, is_placeholder_userinfo

KEYRING_TIMEOUT = 20.0  # seconds; artifacts-keyring may fetch a token over the network
PROVIDER_KEY = "keyring-provider"
PROVIDER_VARIABLE = "UV_KEYRING_PROVIDER"
INSTALL_LINE = "uv tool install keyring --with artifacts-keyring"
NONINTERACTIVE = {"ARTIFACTS_KEYRING_NONINTERACTIVE_MODE": "true"}


def keyring_user(url: AzureUrl) -> str | None:
    """The user name of a user-name-only userinfo (``VssSessionToken@``): a keyring hint."""
    info = url.userinfo
    if not info or ":" in info or is_placeholder_userinfo(info):
        return None
    return info


@dataclass(frozen=True)
class Provider:
    """uv's keyring-provider setting and where it was read."""

    value: str  # "subprocess", "disabled", ...
    source: str  # "UV_KEYRING_PROVIDER" or "pyproject.toml:12"

    @property
    def asks_keyring(self) -> bool:
        """uv runs the keyring command."""
        return self.value == "subprocess"


def provider_in_text(text: str, is_pyproject: bool) -> tuple[str, int] | None:
    """(value, line) of ``keyring-provider`` in a uv.toml or a pyproject's ``[tool.uv]``.

    ``[tool.uv.pip]`` / ``[pip]`` ``keyring-provider`` applies to ``uv pip`` only and is not read.
    """
    from .tomlscan import TomlSyntaxError, scan_toml

    if PROVIDER_KEY not in text:
        return None
    want: tuple[str | int, ...] = ("tool", "uv", PROVIDER_KEY) if is_pyproject else (PROVIDER_KEY,)
    try:
        scan = scan_toml(text, lambda path, _value: path == want, tables=False)
    except TomlSyntaxError:
        return None
    for string in scan.strings:
        if string.path == want:
            return string.value, string.line
    return None


def find_provider(env: Mapping[str, str], files: Sequence[Path]) -> Provider | None:
    """The setting uv uses: the variable first, then the first file (in uv's order) that sets it."""
    value = env.get(PROVIDER_VARIABLE)
    if value:
        return Provider(value.strip().lower(), PROVIDER_VARIABLE)
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        found = provider_in_text(text, path.name == "pyproject.toml")
        if found is not None:
            return Provider(found[0].strip().lower(), f"{path.as_posix()}:{found[1]}")
    return None


@dataclass(frozen=True)
class KeyringAnswer:
    """What ``keyring get`` gave: a password (registered as a secret) or why not."""

    password: str | None
    problem: str


def keyring_get(
    url: str, user: str, env: Mapping[str, str], timeout: float = KEYRING_TIMEOUT
) -> KeyringAnswer:
    """Run ``keyring get <url> <user>`` as uv does; never interactive, never longer than timeout.

    The answer goes to ``register_secret`` at once; the command's output is never returned in a
    message (only the exit status), since a keyring backend may print secrets to stderr.
    """
    path = env.get("PATH", os.defpath)
    command = shutil.which("keyring", path=path)
    if command is None:
        return KeyringAnswer(None, f"no 'keyring' command on PATH ({INSTALL_LINE})")
    child_env = dict(env)
    child_env.update(NONINTERACTIVE)
    try:
        proc = subprocess.run(
            [command, "get", url, user],
            env=child_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        if isinstance(exc.stdout, bytes):
            register_secret(exc.stdout.decode("utf-8", "replace").strip())
        return KeyringAnswer(None, f"'keyring get' gave no answer within {timeout:g} s")
    except OSError as exc:
        return KeyringAnswer(None, f"'keyring' could not run ({exc.strerror or 'error'})")
    out = proc.stdout.decode("utf-8", "replace").strip()
    register_secret(out)
    if proc.returncode != 0 or not out:
        status = f"exit {proc.returncode}" if proc.returncode else "no password"
        return KeyringAnswer(None, f"'keyring get' found no credential ({status})")
    return KeyringAnswer(out.splitlines()[0].strip(), "")


def provider_for(path: Path, env: Mapping[str, str]) -> Provider | None:
    """keyring-provider as uv reads it for the configuration file ``path``: the variable, the
    project's uv.toml, its pyproject.toml, then the user and system uv.toml."""
    from .userconfig import config_files

    def key(p: Path) -> str:
        return os.path.normcase(os.path.realpath(p))

    outside = [f.path for f in config_files(env) if f.client == "uv"]
    if any(key(path) == key(p) for p in outside):
        files = [path, *(p for p in outside if key(p) != key(path))]
    else:
        files = [path.parent / "uv.toml", path.parent / "pyproject.toml", *outside]
    return find_provider(env, files)
