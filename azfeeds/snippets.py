"""Ready-to-paste credential snippets for ``azfeeds env`` (names and placeholders, never values).

Each client reads its own variables: uv ``UV_INDEX_<NAME>_USERNAME/PASSWORD`` of a named index,
Poetry ``POETRY_HTTP_BASIC_<NAME>_USERNAME/PASSWORD`` of a source, and PDM and pip the ``${VAR}``
names that their URLs reference (PDM in source URLs, pip in requirements files).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .clientcreds import client_variables
from .inspect import Index
from .planner import env_name

SHELLS = ("sh", "powershell", "github", "azure-pipelines", "dockerfile")
INSTALL = {
    "uv": "uv sync --locked",
    "poetry": "poetry install",
    "pdm": "pdm install",
    "pip": "pip install -r requirements.txt",
}


@dataclass(frozen=True)
class Need:
    """The variables one index needs (its client reads them)."""

    index: str
    organization: str
    username_variable: str | None  # None: the URL writes the user name itself
    password_variable: str
    secret: str  # the per-organization secret name: AZDO_<ORG>_PAT
    twin_of: str | None = None
    original: Need | None = None  # the index a twin shares its credential with
    client: str = "uv"


def _variables(index: Index) -> tuple[str | None, str] | None:
    if index.is_uv:
        uv = index.variables
        return (uv[0], uv[1]) if uv is not None else None
    ref = index.ref
    if ref is None or ref.client == "uv":
        return None
    user, password = client_variables(ref)
    return (user, password) if password else None


def needs(indexes: Sequence[Index]) -> list[Need]:
    """One Need per index with credential variables (twins point at their originals)."""
    out: list[Need] = []
    by_name: dict[str, Need] = {}
    seen: set[tuple[str | None, str]] = set()
    for index in indexes:
        variables = _variables(index)
        if variables is None or variables in seen:
            continue
        seen.add(variables)
        name = index.site.index_name or index.site.location
        need = Need(
            name,
            index.url.org,
            variables[0],
            variables[1],
            f"AZDO_{env_name(index.url.org)}_PAT",
            index.twin_of,
            client=index.client,
        )
        by_name.setdefault(name, need)
        out.append(need)
    return [
        Need(
            n.index,
            n.organization,
            n.username_variable,
            n.password_variable,
            n.secret,
            n.twin_of,
            by_name.get(n.twin_of or ""),
            n.client,
        )
        for n in out
    ]


def install_command(items: Sequence[Need]) -> str:
    """The install command(s) of the clients in use, for the CI and container snippets."""
    return " && ".join(dict.fromkeys(INSTALL[n.client] for n in items))


def _clients(items: Sequence[Need]) -> str:
    names = {"uv": "uv", "poetry": "Poetry", "pdm": "PDM", "pip": "pip"}
    found = list(dict.fromkeys(names[n.client] for n in items))
    return found[0] if len(found) == 1 else ", ".join(found[:-1]) + " and " + found[-1]


def render(items: Sequence[Need], shell: str, env: Mapping[str, str] | None = None) -> str:
    """The snippet for one shell or CI system."""
    if shell == "sh":
        return _sh(items)
    if shell == "powershell":
        return _powershell(items)
    if shell == "github":
        return _github(items)
    if shell == "azure-pipelines":
        return _pipelines(items, env or {})
    if shell == "dockerfile":
        return _dockerfile(items)
    raise ValueError(shell)


def _orgs(items: Sequence[Need]) -> list[str]:
    return list(dict.fromkeys(n.organization for n in items))


def _header(items: Sequence[Need]) -> str:
    return (
        f"# {_clients(items)} credentials for the Azure Artifacts indexes "
        "(any user name works with a PAT)."
    )


def _sh(items: Sequence[Need]) -> str:
    lines = [_header(items)]
    for need in items:
        if need.original is not None:
            lines.append(f"# {need.index}: twin of {need.original.index}, same credential")
            if need.username_variable and need.original.username_variable:
                lines.append(
                    f'export {need.username_variable}="${need.original.username_variable}"'
                )
            lines.append(f'export {need.password_variable}="${need.original.password_variable}"')
            continue
        lines.append(
            f"# {need.index}: a PAT with Packaging (Read) in organization {need.organization}"
        )
        if need.username_variable:
            lines.append(f"export {need.username_variable}=azfeeds")
        lines.append(f"export {need.password_variable}='<PAT for {need.organization}>'")
    return "\n".join(lines) + "\n"


def _powershell(items: Sequence[Need]) -> str:
    lines = [_header(items)]
    for need in items:
        if need.original is not None:
            lines.append(f"# {need.index}: twin of {need.original.index}, same credential")
            if need.username_variable and need.original.username_variable:
                lines.append(
                    f"$env:{need.username_variable} = $env:{need.original.username_variable}"
                )
            lines.append(f"$env:{need.password_variable} = $env:{need.original.password_variable}")
            continue
        lines.append(
            f"# {need.index}: a PAT with Packaging (Read) in organization {need.organization}"
        )
        if need.username_variable:
            lines.append(f'$env:{need.username_variable} = "azfeeds"')
        lines.append(f'$env:{need.password_variable} = "<PAT for {need.organization}>"')
    return "\n".join(lines) + "\n"


def _github(items: Sequence[Need]) -> str:
    secrets = ", ".join(dict.fromkeys(n.secret for n in items))
    lines = [
        f"# In the job or step that runs {_clients(items)}. Store each PAT as a repository "
        f"secret: {secrets}.",
        "env:",
    ]
    for need in items:
        secret = (need.original or need).secret
        if need.username_variable:
            lines.append(f"  {need.username_variable}: azfeeds")
        lines.append(f"  {need.password_variable}: ${{{{ secrets.{secret} }}}}")
    return "\n".join(lines) + "\n"


def _pipelines(items: Sequence[Need], env: Mapping[str, str]) -> str:
    orgs = _orgs(items)
    own = _own_org(orgs, env)
    lines = [
        f"# In the step that runs {_clients(items)}. $(System.AccessToken) reads the feeds of "
        "this pipeline's own",
        "# organization (give its build service Reader on the feed); a feed of another",
        "# organization needs a PAT in a secret variable.",
        f"- script: {install_command(items)}",
        "  env:",
    ]
    for need in items:
        org = (need.original or need).organization
        value = "$(System.AccessToken)" if org == own else f"$({(need.original or need).secret})"
        note = "" if org == own else f"  # {org}: another organization, a secret variable"
        if need.username_variable:
            lines.append(f"    {need.username_variable}: build")
        lines.append(f"    {need.password_variable}: {value}{note}")
    return "\n".join(lines) + "\n"


def _own_org(orgs: Sequence[str], env: Mapping[str, str]) -> str | None:
    collection = (
        env.get("SYSTEM_COLLECTIONURI") or env.get("SYSTEM_TEAMFOUNDATIONCOLLECTIONURI") or ""
    ).lower()
    for org in orgs:
        if f"/{org.lower()}/" in collection or collection.startswith(f"https://{org.lower()}."):
            return org
    return orgs[0] if orgs else None


def _dockerfile(items: Sequence[Need]) -> str:
    secrets = list(dict.fromkeys((n.original or n).secret for n in items))
    build = " ".join(f"--secret id={s.lower()},env={s}" for s in secrets)
    lines = [
        "# syntax=docker/dockerfile:1",
        "# Pass each PAT as a BuildKit secret; the variables exist only inside this RUN:",
        f"#   docker build {build} .",
        "# Set them in the same RUN as the install: a variable exported in an earlier RUN does not",
        "# reach a later one, and ENV or ARG would bake the PAT into the image.",
        "RUN " + " \\\n    ".join(f"--mount=type=secret,id={s.lower()}" for s in secrets) + " \\",
    ]
    for need in items:
        secret = (need.original or need).secret.lower()
        if need.username_variable:
            lines.append(f"    {need.username_variable}=docker \\")
        lines.append(f'    {need.password_variable}="$(cat /run/secrets/{secret})" \\')
    command = install_command(items)
    # VAR=value prefixes reach one command only: several run in one shell that inherits them
    lines.append(f"    {command}" if "&&" not in command else f"    sh -c '{command}'")
    return "\n".join(lines) + "\n"
