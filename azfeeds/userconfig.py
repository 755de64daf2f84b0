"""Where uv and pip read configuration outside the project: user, system and variable-named files.

Pure path arithmetic over an environment mapping (a seam for tests); nothing here reads a file.
The locations follow the clients' own rules:

- uv: ``UV_CONFIG_FILE`` replaces every other file. Otherwise the user file
  (``$XDG_CONFIG_HOME/uv/uv.toml``, else ``~/.config/uv/uv.toml``; ``%APPDATA%\\uv\\uv.toml`` on
  Windows) and the first system file found (``$XDG_CONFIG_DIRS/uv/uv.toml``, else
  ``/etc/xdg/uv/uv.toml``, then ``/etc/uv/uv.toml``; ``%PROGRAMDATA%\\uv\\uv.toml`` on Windows).
- pip: the global files (``$XDG_CONFIG_DIRS/pip/pip.conf``, else ``/etc/xdg/pip/pip.conf``, and
  ``/etc/pip.conf``; ``/Library/Application Support/pip/pip.conf`` on macOS;
  ``%PROGRAMDATA%\\pip\\pip.ini`` on Windows), the user files (``~/.pip/pip.conf`` and
  ``$XDG_CONFIG_HOME/pip/pip.conf``; ``~/Library/Application Support/pip/pip.conf`` on macOS;
  ``%APPDATA%\\pip\\pip.ini`` on Windows), the virtualenv file (``$VIRTUAL_ENV/pip.conf``) and
  ``PIP_CONFIG_FILE`` (when it names an existing file, pip skips the user files).
- PDM: ``PDM_CONFIG_FILE``, else the global file (``$XDG_CONFIG_HOME/pdm/config.toml``;
  ``~/Library/Application Support/pdm/config.toml`` on macOS;
  ``%LOCALAPPDATA%\\pdm\\pdm\\config.toml`` on Windows), and the site file
  (``$XDG_CONFIG_DIRS/pdm/config.toml``; ``/Library/Application Support/pdm/config.toml``;
  ``%PROGRAMDATA%\\pdm\\pdm\\config.toml``). Its ``[pypi.<name>] url`` entries are sources.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath

from .kinds.base import FileKind

USER = "user"
SYSTEM = "system"
VARIABLE = "variable"
VIRTUALENV = "virtualenv"


@dataclass(frozen=True)
class ConfigFile:
    """One configuration file a client reads outside the project."""

    path: Path
    client: str  # "uv", "pip" or "pdm"
    scope: str  # USER, SYSTEM, VARIABLE or VIRTUALENV
    variable: str | None = None  # UV_CONFIG_FILE / PIP_CONFIG_FILE when it names the file

    @property
    def kind(self) -> FileKind:
        """How the client reads it (the file kind azfeeds scans and edits it as)."""
        return {"uv": FileKind.UV_TOML, "pip": FileKind.PIP_CONF}.get(
            self.client, FileKind.PDM_TOML
        )

    @property
    def label(self) -> str:
        """How doctor names the source: ``uv user config``, ``pip config from PIP_CONFIG_FILE``."""
        if self.variable is not None:
            return f"{self.client} config from {self.variable}"
        return f"{self.client} {self.scope} config"


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME") or env.get("USERPROFILE")
    return Path(home) if home else Path.home()


def _xdg_config_home(env: Mapping[str, str]) -> Path:
    value = env.get("XDG_CONFIG_HOME", "")
    return Path(value) if value and os.path.isabs(value) else _home(env) / ".config"


def _xdg_config_dirs(env: Mapping[str, str]) -> list[Path]:
    value = env.get("XDG_CONFIG_DIRS", "")
    dirs = [Path(p) for p in value.split(os.pathsep) if p and os.path.isabs(p)]
    return dirs or [Path("/etc/xdg")]


def _is_windows(platform: str) -> bool:
    return platform.startswith("win")


def uv_files(env: Mapping[str, str], platform: str = sys.platform) -> list[ConfigFile]:
    """Every uv.toml uv may read outside the project (existing or not), in uv's order."""
    named = env.get("UV_CONFIG_FILE")
    if named:
        return [ConfigFile(Path(named), "uv", VARIABLE, "UV_CONFIG_FILE")]
    if env.get("UV_NO_CONFIG", "").lower() in ("1", "true", "yes", "on"):
        return []
    if _is_windows(platform):
        appdata = env.get("APPDATA")
        programdata = env.get("PROGRAMDATA") or env.get("ALLUSERSPROFILE")
        out = []
        if appdata:
            out.append(ConfigFile(Path(appdata) / "uv" / "uv.toml", "uv", USER))
        if programdata:
            out.append(ConfigFile(Path(programdata) / "uv" / "uv.toml", "uv", SYSTEM))
        return out
    out = [ConfigFile(_xdg_config_home(env) / "uv" / "uv.toml", "uv", USER)]
    out.extend(ConfigFile(d / "uv" / "uv.toml", "uv", SYSTEM) for d in _xdg_config_dirs(env))
    out.append(ConfigFile(Path("/etc/uv/uv.toml"), "uv", SYSTEM))
    return out


def pip_files(env: Mapping[str, str], platform: str = sys.platform) -> list[ConfigFile]:
    """Every pip configuration file pip may read (existing or not), in pip's order."""
    named = env.get("PIP_CONFIG_FILE")
    if named and named == os.devnull:
        return []
    windows = _is_windows(platform)
    conf = "pip.ini" if windows else "pip.conf"
    out: list[ConfigFile] = []
    if windows:
        programdata = env.get("PROGRAMDATA") or env.get("ALLUSERSPROFILE")
        if programdata:
            out.append(ConfigFile(Path(programdata) / "pip" / conf, "pip", SYSTEM))
    elif platform == "darwin":
        out.append(ConfigFile(Path("/Library/Application Support/pip/pip.conf"), "pip", SYSTEM))
    else:
        out.extend(ConfigFile(d / "pip" / conf, "pip", SYSTEM) for d in _xdg_config_dirs(env))
        out.append(ConfigFile(Path("/etc/pip.conf"), "pip", SYSTEM))
    if not (named and Path(named).exists()):
        if windows:
            appdata = env.get("APPDATA")
            out.append(ConfigFile(_home(env) / "pip" / conf, "pip", USER))
            if appdata:
                out.append(ConfigFile(Path(appdata) / "pip" / conf, "pip", USER))
        else:
            out.append(ConfigFile(_home(env) / ".pip" / "pip.conf", "pip", USER))
            if platform == "darwin":
                out.append(
                    ConfigFile(
                        _home(env) / "Library" / "Application Support" / "pip" / "pip.conf",
                        "pip",
                        USER,
                    )
                )
            out.append(ConfigFile(_xdg_config_home(env) / "pip" / "pip.conf", "pip", USER))
    venv = env.get("VIRTUAL_ENV")
    if venv:
        out.append(ConfigFile(Path(venv) / conf, "pip", VIRTUALENV))
    if named:
        out.append(ConfigFile(Path(named), "pip", VARIABLE, "PIP_CONFIG_FILE"))
    return out


def pdm_files(env: Mapping[str, str], platform: str = sys.platform) -> list[ConfigFile]:
    """PDM's global and site config files (existing or not)."""
    named = env.get("PDM_CONFIG_FILE")
    if _is_windows(platform):
        local = env.get("LOCALAPPDATA")
        programdata = env.get("PROGRAMDATA") or env.get("ALLUSERSPROFILE")
        user = Path(local) / "pdm" / "pdm" / "config.toml" if local else None
        site = Path(programdata) / "pdm" / "pdm" / "config.toml" if programdata else None
    elif platform == "darwin":
        user = _home(env) / "Library" / "Application Support" / "pdm" / "config.toml"
        site = Path("/Library/Application Support/pdm/config.toml")
    else:
        user = _xdg_config_home(env) / "pdm" / "config.toml"
        site = _xdg_config_dirs(env)[0] / "pdm" / "config.toml"
    out: list[ConfigFile] = []
    if named:
        out.append(ConfigFile(Path(named), "pdm", VARIABLE, "PDM_CONFIG_FILE"))
    elif user is not None:
        out.append(ConfigFile(user, "pdm", USER))
    if site is not None:
        out.append(ConfigFile(site, "pdm", SYSTEM))
    return out


def config_files(env: Mapping[str, str], platform: str = sys.platform) -> list[ConfigFile]:
    """The uv, pip and PDM files outside the project that exist, each once."""
    out: list[ConfigFile] = []
    seen: set[str] = set()
    for item in [*uv_files(env, platform), *pip_files(env, platform), *pdm_files(env, platform)]:
        key = os.path.normcase(os.path.abspath(item.path))
        if key in seen or not item.path.is_file():
            continue
        seen.add(key)
        out.append(item)
    return out


def scoped_files(
    env: Mapping[str, str], scope: str, platform: str = sys.platform
) -> list[ConfigFile]:
    """The existing files of one scope (USER or SYSTEM) that ``rewrite --user/--system`` edits.

    A file named by ``UV_CONFIG_FILE`` or ``PIP_CONFIG_FILE`` counts as user-level.
    """
    wanted = {scope, VARIABLE} if scope == USER else {scope}
    return [f for f in config_files(env, platform) if f.scope in wanted]


def shown(path: PurePath, env: Mapping[str, str]) -> str:
    """A path with the home directory written ``~`` (shorter reports, no user name)."""
    home = str(_home(env))
    text = str(path)
    if home and home != os.sep and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home) :]
    return text
