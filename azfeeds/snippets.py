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


# -- keyring set-ups ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyringSetup:
    """What a laptop needs for the indexes whose URLs name a keyring user."""

    users: tuple[str, ...]  # the user names written in the URLs (VssSessionToken...)
    provider: str | None  # keyring-provider as uv reads it, or None
    provider_source: str | None
    endpoints: str  # the credential provider's endpoint list, placeholders for the PATs


def keyring_setup(indexes: Sequence[Index]) -> KeyringSetup | None:
    """The keyring set-up of a project whose uv indexes carry a user name only, else None."""
    from .outside import endpoint_json

    chosen = [i for i in indexes if i.is_uv and i.keyring_user is not None]
    if not chosen:
        return None
    users = tuple(dict.fromkeys(i.keyring_user or "" for i in chosen))
    provider = next((i.provider for i in chosen if i.provider is not None), None)
    return KeyringSetup(
        users,
        provider.value if provider else None,
        provider.source if provider else None,
        endpoint_json([i.url for i in chosen], users[0]),
    )


ENDPOINT_NOTE = (
    "# CI has no keyring sign-in: set the PAT variables below, or give the credential\n"
    "# provider its endpoint list (each endpoint must match the index URL as written, and\n"
    "# each <PAT> is a PAT of that endpoint's organization):"
)
ENDPOINT_NOTE_CI = (
    "# CI has no keyring sign-in: the variables below carry the PATs. The credential\n"
    "# provider's endpoint list, if you use it instead (<PAT>: that organization's PAT):"
)


def render_keyring(setup: KeyringSetup, shell: str) -> str:
    """Laptop lines (keyring) before the CI variables; never a secret."""
    from .keyring_probe import INSTALL_LINE

    users = ", ".join(setup.users)
    if setup.provider == "subprocess":
        state = f'keyring-provider = "subprocess" is set ({setup.provider_source})'
    elif setup.provider is not None:
        state = f"keyring-provider is '{setup.provider}' ({setup.provider_source}): set subprocess"
    else:
        state = 'keyring-provider is not set: add keyring-provider = "subprocess" under [tool.uv]'
    comment = "#"
    lines = [
        f"{comment} Laptops: the index URLs carry the keyring user name ({users}); uv asks the",
        f"{comment} keyring for the password. Install it once: {INSTALL_LINE}",
        f"{comment} {state}.",
    ]
    if shell == "sh":
        if setup.provider != "subprocess":
            lines.append("export UV_KEYRING_PROVIDER=subprocess")
        lines.append(ENDPOINT_NOTE)
        lines.append(f"export VSS_NUGET_EXTERNAL_FEED_ENDPOINTS='{setup.endpoints}'")
    elif shell == "powershell":
        if setup.provider != "subprocess":
            lines.append('$env:UV_KEYRING_PROVIDER = "subprocess"')
        lines.append(ENDPOINT_NOTE)
        lines.append(f"$env:VSS_NUGET_EXTERNAL_FEED_ENDPOINTS = '{setup.endpoints}'")
    else:
        lines.append(ENDPOINT_NOTE_CI)
        lines.append(f"#   VSS_NUGET_EXTERNAL_FEED_ENDPOINTS: '{setup.endpoints}'")
    return "\n".join(lines) + "\n"


# -- publishing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishTarget:
    """Where one feed's uploads go, and the index that names it."""

    index: str | None
    organization: str
    url: str  # the /pypi/upload/ endpoint, without userinfo
    from_publish_url: bool


def publish_targets(indexes: Sequence[Index]) -> list[PublishTarget]:
    """The upload endpoints: the publish-url entries, else one per uv index feed."""
    from .kinds.base import Role
    from .outside import upload_url

    explicit = [i for i in indexes if i.site.role is Role.UV_PUBLISH]
    chosen = explicit or [i for i in indexes if i.is_uv and i.twin_of is None]
    out: list[PublishTarget] = []
    seen: set[str] = set()
    for index in chosen:
        url = str(upload_url(index.url.without_userinfo()))
        if url in seen:
            continue
        seen.add(url)
        out.append(PublishTarget(index.site.index_name, index.url.org, url, bool(explicit)))
    return out


def render_publish(targets: Sequence[PublishTarget], shell: str) -> str:
    """Variables for `uv publish` and twine, per target; a write-scoped PAT is needed."""
    lines = [
        "# Publishing needs a PAT with Packaging (Read & write): a read-only PAT gets 403.",
    ]
    for target in targets:
        org = target.organization
        secret = f"AZDO_{env_name(org)}_PUBLISH_PAT"
        value = {
            "sh": f"'<PAT with Packaging (Read & write) for {org}>'",
            "powershell": f'"<PAT with Packaging (Read & write) for {org}>"',
            "github": f"${{{{ secrets.{secret} }}}}",
            "azure-pipelines": f"$({secret})",
            "dockerfile": f'"$(cat /run/secrets/{secret.lower()})"',
        }[shell]
        name = f" (index {target.index})" if target.index else ""
        pairs = [
            ("UV_PUBLISH_URL", target.url),
            ("UV_PUBLISH_USERNAME", "azfeeds"),
            ("UV_PUBLISH_PASSWORD", value),
            ("TWINE_REPOSITORY_URL", target.url),
            ("TWINE_USERNAME", "azfeeds"),
            ("TWINE_PASSWORD", value),
        ]
        lines.append(f"# {org}{name}: uv publish, then twine upload")
        if target.index and target.from_publish_url:
            variables = f"UV_INDEX_{env_name(target.index)}_USERNAME/PASSWORD"
            lines.append(f"# (or: uv publish --index {target.index}, with {variables})")
        if shell in ("github", "azure-pipelines"):
            lines.append("env:" if shell == "github" else "  env:")
        indent = {"github": "  ", "azure-pipelines": "    "}.get(shell, "")
        for key, val in pairs:
            if shell == "sh" or shell == "dockerfile":
                lines.append(f"export {key}={val}")
            elif shell == "powershell":
                shown = val if val.startswith('"') else f'"{val}"'
                lines.append(f"$env:{key} = {shown}")
            else:
                lines.append(f"{indent}{key}: {val}")
    return "\n".join(lines) + "\n"
