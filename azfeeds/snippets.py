"""Ready-to-paste credential snippets for ``azfeeds env`` (names and placeholders, never values)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .inspect import Index
from .planner import env_name

SHELLS = ("sh", "powershell", "github", "azure-pipelines", "dockerfile")


@dataclass(frozen=True)
class Need:
    """The variables one named uv index needs."""

    index: str
    organization: str
    username_variable: str
    password_variable: str
    secret: str  # the per-organization secret name: AZDO_<ORG>_PAT
    twin_of: str | None = None
    original: Need | None = None  # the index a twin shares its credential with


def needs(indexes: Sequence[Index]) -> list[Need]:
    """One Need per named uv index (twins included, pointing at their originals)."""
    out: list[Need] = []
    by_name: dict[str, Need] = {}
    seen: set[str] = set()
    for index in indexes:
        variables = index.variables
        name = index.site.index_name
        if variables is None or name is None or not index.is_uv or name in seen:
            continue
        seen.add(name)
        need = Need(
            name,
            index.url.org,
            variables[0],
            variables[1],
            f"AZDO_{env_name(index.url.org)}_PAT",
            index.twin_of,
        )
        by_name[name] = need
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
        )
        for n in out
    ]


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


def _sh(items: Sequence[Need]) -> str:
    lines = ["# uv credentials for the Azure Artifacts indexes (any user name works with a PAT)."]
    for need in items:
        if need.original is not None:
            lines.append(f"# {need.index}: twin of {need.original.index}, same credential")
            lines.append(f'export {need.username_variable}="${need.original.username_variable}"')
            lines.append(f'export {need.password_variable}="${need.original.password_variable}"')
            continue
        lines.append(
            f"# {need.index}: a PAT with Packaging (Read) in organization {need.organization}"
        )
        lines.append(f"export {need.username_variable}=azfeeds")
        lines.append(f"export {need.password_variable}='<PAT for {need.organization}>'")
    return "\n".join(lines) + "\n"


def _powershell(items: Sequence[Need]) -> str:
    lines = ["# uv credentials for the Azure Artifacts indexes (any user name works with a PAT)."]
    for need in items:
        if need.original is not None:
            lines.append(f"# {need.index}: twin of {need.original.index}, same credential")
            lines.append(f"$env:{need.username_variable} = $env:{need.original.username_variable}")
            lines.append(f"$env:{need.password_variable} = $env:{need.original.password_variable}")
            continue
        lines.append(
            f"# {need.index}: a PAT with Packaging (Read) in organization {need.organization}"
        )
        lines.append(f'$env:{need.username_variable} = "azfeeds"')
        lines.append(f'$env:{need.password_variable} = "<PAT for {need.organization}>"')
    return "\n".join(lines) + "\n"


def _github(items: Sequence[Need]) -> str:
    secrets = ", ".join(dict.fromkeys(n.secret for n in items))
    lines = [
        f"# In the job or step that runs uv. Store each PAT as a repository secret: {secrets}.",
        "env:",
    ]
    for need in items:
        secret = (need.original or need).secret
        lines.append(f"  {need.username_variable}: azfeeds")
        lines.append(f"  {need.password_variable}: ${{{{ secrets.{secret} }}}}")
    return "\n".join(lines) + "\n"


def _pipelines(items: Sequence[Need], env: Mapping[str, str]) -> str:
    orgs = _orgs(items)
    own = _own_org(orgs, env)
    lines = [
        "# In the step that runs uv. $(System.AccessToken) reads the feeds of this pipeline's own",
        "# organization (give its build service Reader on the feed); a feed of another",
        "# organization needs a PAT in a secret variable.",
        "- script: uv sync --locked",
        "  env:",
    ]
    for need in items:
        org = (need.original or need).organization
        value = "$(System.AccessToken)" if org == own else f"$({(need.original or need).secret})"
        note = "" if org == own else f"  # {org}: another organization, a secret variable"
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
        "# Set them in the same RUN as 'uv sync': a variable exported in an earlier RUN does not",
        "# reach a later one, and ENV or ARG would bake the PAT into the image.",
        "RUN " + " \\\n    ".join(f"--mount=type=secret,id={s.lower()}" for s in secrets) + " \\",
    ]
    for need in items:
        secret = (need.original or need).secret.lower()
        lines.append(f"    {need.username_variable}=docker \\")
        lines.append(f'    {need.password_variable}="$(cat /run/secrets/{secret})" \\')
    lines.append("    uv sync --locked")
    return "\n".join(lines) + "\n"
