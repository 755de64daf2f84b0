"""Azure index URLs in CI and container files, read-only (``doctor`` reports them; nobody edits them).

The files: ``azure-pipelines*.yml`` and the YAML under the usual pipeline folders,
``.github/workflows/*.yml``, ``.gitlab-ci.yml``, ``Dockerfile``, ``Dockerfile.*``,
``*.dockerfile``, ``Containerfile`` and ``tox.ini``. Their syntax is not azfeeds' to edit, so
each URL is reported by file and line with the 401 risk of that file and the exact replacement.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .outside import Finding, fix_for, form_of, parse
from .table import FeedTable
from .urls import AzureUrl, looks_like_azure

PIPELINE_DIRS = (".azure-pipelines", "azure-pipelines", ".pipelines", "pipelines", ".azuredevops")
MAX_BYTES = 2 * 1024 * 1024  # a CI file larger than this is not read

_URL_RE = re.compile(r"""[A-Za-z][A-Za-z0-9+.\-]*://[^\s'"<>`]+""")
# Placeholders with spaces inside (GitHub Actions) are shortened so that an URL stays one token.
_GHA_RE = re.compile(r"\$\{\{[^}]*\}\}")
_TRAILING = ",;)]}\\"
_NAME_BEFORE_RE = re.compile(r"(?:^|[\s'\"=:])([A-Za-z0-9][A-Za-z0-9._-]*)=\Z")


@dataclass(frozen=True)
class CiUrl:
    """One Azure URL in a CI or container file."""

    path: Path
    line: int
    url: AzureUrl
    password_placeholder: bool  # the password part is a CI variable, not a literal secret
    index_name: str | None = None  # the ``name=`` before the URL (UV_INDEX entries)


def is_ci_name(name: str) -> bool:
    """Whether a file name is one of the CI or container files (outside the pipeline folders)."""
    lower = name.lower()
    return (
        (lower.startswith("azure-pipelines") and lower.endswith((".yml", ".yaml")))
        or lower in (".gitlab-ci.yml", "tox.ini", "dockerfile", "containerfile")
        or lower.startswith(("dockerfile.", "containerfile."))
        or lower.endswith(".dockerfile")
    )


def ci_files(
    root: Path, recursive: bool = False, skipped: list[tuple[Path, str]] | None = None
) -> list[Path]:
    """The CI and container files of ``root`` (and its pipeline folders); with ``recursive``,
    those of its subdirectories too, walked as ``walk`` walks them (hidden folders, SKIP_DIRS and
    virtual environments passed over, no symbolic link followed out of the tree).

    Each path is ``root`` joined with the file's path under it, so a relative ``root`` gives
    paths relative to where azfeeds runs. ``skipped`` collects the CI files passed over (a link
    out of the tree), each with the reason, so that doctor can say so."""
    from .walk import directories, is_inside

    root_real = os.path.realpath(root)
    found: dict[str, list[Path]] = {}
    seen: set[str] = set()

    def take(path: str, is_link: bool) -> bool:
        if is_link and not is_inside(path, root_real):
            key = os.path.normcase(os.path.normpath(path))
            if skipped is not None and key not in seen:
                seen.add(key)
                skipped.append((Path(path), OUT_OF_TREE))
            return False
        key = os.path.normcase(os.path.normpath(path))
        if key in seen:
            return False
        seen.add(key)
        if not os.path.isfile(path):  # a FIFO or a device: never opened
            if skipped is not None and os.path.lexists(path):
                skipped.append((Path(path), "not a regular file"))
            return False
        return True

    for prefix, entries in directories(root, recursive, []):
        out: list[Path] = []
        for entry in sorted(entries, key=lambda e: e.name):
            try:
                is_link = entry.is_symlink()
            except OSError:
                continue
            if is_ci_name(entry.name) and take(prefix + entry.name, is_link):
                out.append(Path(prefix + entry.name))
        for folder in (os.path.join(".github", "workflows"), *PIPELINE_DIRS):
            directory = prefix + folder
            if not os.path.isdir(directory) or not is_inside(directory, root_real):
                continue
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                continue
            for name in names:
                path = os.path.join(directory, name)
                if name.lower().endswith((".yml", ".yaml")) and take(path, os.path.islink(path)):
                    out.append(Path(path))
        found[prefix] = out
    return [path for prefix in sorted(found) for path in found[prefix]]


OUT_OF_TREE = "a symbolic link that points out of the tree (azfeeds reads no file outside it)"


def read_ci_file(path: Path, within: Path | None = None) -> bytes | str:
    """A CI file's bytes, or why it is not read (a string).

    Only regular files inside ``within`` (default: their folder) of at most MAX_BYTES are read:
    a symbolic link that leads out of it, a FIFO or a device is passed over, like the walk does
    for the files azfeeds edits."""
    try:
        if path.is_symlink():
            real = os.path.realpath(path)
            folder = os.path.realpath(within if within is not None else path.parent)
            if os.path.commonpath([real, folder]) != folder:
                return OUT_OF_TREE
        if not path.is_file():
            return "not a regular file"
        if path.stat().st_size > MAX_BYTES:
            return f"larger than {MAX_BYTES // (1024 * 1024)} MiB"
        return path.read_bytes()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    except ValueError:  # commonpath: paths on two drives
        return OUT_OF_TREE


def scan_file(path: Path, within: Path | None = None) -> list[CiUrl]:
    """Every Azure URL in one file (a file that is not read yields none: ``read_ci_file``)."""
    data = read_ci_file(path, within)
    return [] if isinstance(data, str) else scan_data(path, data)


def scan_data(path: Path, data: bytes) -> list[CiUrl]:
    """Every Azure URL in the bytes of the CI file ``path``."""
    if b"_packaging" not in data.lower():
        return []
    text = data.decode("utf-8", "replace")
    out: list[CiUrl] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not looks_like_azure(line) and "_packaging" not in line.lower():
            continue
        flat = _GHA_RE.sub("${GHA}", line)
        for match in _URL_RE.finditer(flat):
            token = match.group(0).rstrip(_TRAILING)
            url = parse(token)
            if url is None:
                continue
            named = _NAME_BEFORE_RE.search(flat, 0, match.start())
            name = named.group(1) if named is not None else None
            out.append(CiUrl(path, number, url, _placeholder_password(url.userinfo), name))
    return out


def _placeholder_password(userinfo: str | None) -> bool:
    if not userinfo or ":" not in userinfo:
        return False
    password = userinfo.split(":", 1)[1]
    return password.startswith(("$", "{env:", "%"))


def findings(
    roots: Sequence[Path],
    project_orgs: Mapping[str, set[str]],
    table: FeedTable | None,
    *,
    url_command: bool = False,
    recursive: bool = False,
) -> list[Finding]:
    """One finding per Azure URL of the CI files under ``roots``.

    ``project_orgs`` maps each host to the organizations the project's own indexes use there: a
    CI file's URLs run next to them, so they count for the 401 risk.
    """
    out: list[Finding] = []
    seen: set[str] = set()
    for root in roots:
        skipped: list[tuple[Path, str]] = []
        for path in ci_files(root, recursive, skipped):
            key = os.path.normcase(os.path.abspath(path))
            if key in seen:
                continue
            seen.add(key)
            data = read_ci_file(path, root)
            if isinstance(data, str):
                skipped.append((path, data))
                continue
            urls = scan_data(path, data)
            out.extend(_file_findings(path, urls, project_orgs, table, url_command))
        for path, why in skipped:
            finding = Finding("ci-file", path.as_posix(), "(not read)")
            finding.checks["read"] = f"skipped: {why}"
            finding.notes.append("a URL in it, if any, is not checked")
            out.append(finding)
    return out


def _file_findings(
    path: Path,
    urls: Sequence[CiUrl],
    project_orgs: Mapping[str, set[str]],
    table: FeedTable | None,
    url_command: bool,
) -> list[Finding]:
    orgs: dict[str, set[str]] = defaultdict(set)
    for host, names in project_orgs.items():
        orgs[host].update(names)
    for item in urls:
        orgs[item.url.host].add(item.url.org)
    out: list[Finding] = []
    shown = path.as_posix()
    for item in urls:
        url = item.url
        finding = Finding("ci-file", f"{shown}:{item.line}", url.redacted, url.org, form_of(url))
        host_orgs = sorted(orgs[url.host], key=str.casefold)
        if finding.form == "uuid":
            finding.checks["401 risk"] = "none (UUID form)"
        elif len(host_orgs) > 1:
            finding.checks["401 risk"] = (
                f"high: {len(host_orgs)} organizations on {url.host} ({', '.join(host_orgs)})"
            )
            finding.problems.append(
                "401 risk: uv matches no UUID-form download URL to this name-form index and "
                "falls back to one credential per host, which fails for the other organization"
            )
            finding.fixes.append(fix_for(url, table, url_command))
        else:
            finding.checks["401 risk"] = (
                "low: one organization on this host (an extra 401 round trip per download)"
            )
            finding.fixes.append(fix_for(url, table, url_command))
        if url.userinfo and ":" in url.userinfo and not item.password_placeholder:
            finding.problems.append(
                "the URL carries a password in a file under version control: it leaks into "
                "the repository and the CI logs; use a secret variable instead"
            )
        finding.notes.append("read-only: azfeeds rewrite never edits CI or container files")
        out.append(finding)
    return out
