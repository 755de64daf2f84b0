"""The command line: translates between the user and the core. The only module that imports Typer.

Each command resolves its options, calls the core, renders the result and maps errors to the
exit codes of DESIGN.md section 5. Core modules are imported inside the commands so that
``azfeeds --version`` and offline commands stay cheap, and never import requests or msal.
"""

import sys
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from . import __version__
from .errors import AzfeedsError, ExitCode, caused_by_interrupt

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from .auth import EntraConfig
    from .client import HttpFeedsApi
    from .credentials import AuthSettings, Broker
    from .doctor import DoctorReport, PartialProvider
    from .engine import OrgRequest, RewriteOptions, RewriteResult, TableProvider
    from .planner import Plan
    from .table import FeedTable
    from .userconfig import ConfigFile

INTERNAL_ERROR = 70
HELP_WIDTH = 100  # fixed, so that --help is the same everywhere (and in the README)


class ModeChoice(str, Enum):
    """--mode."""

    uuid = "uuid"
    add = "add"
    names = "names"


class UrlModeChoice(str, Enum):
    """--mode of 'azfeeds url'."""

    uuid = "uuid"
    names = "names"


class AuthChoice(str, Enum):
    """--auth."""

    auto = "auto"
    pat = "pat"
    pipeline = "pipeline"
    service_principal = "service-principal"
    workload_identity = "workload-identity"
    managed_identity = "managed-identity"
    azure_cli = "azure-cli"
    device_code = "device-code"
    browser = "browser"


class ShellChoice(str, Enum):
    """--shell."""

    sh = "sh"
    powershell = "powershell"
    github = "github"
    azure_pipelines = "azure-pipelines"
    dockerfile = "dockerfile"


app = typer.Typer(
    name="azfeeds",
    help="Rewrite Azure Artifacts index URLs into UUID form so that uv stops failing with 401.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={
        "help_option_names": ["-h", "--help"],
        "terminal_width": HELP_WIDTH,
        "max_content_width": HELP_WIDTH,
    },
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"azfeeds {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Rewrite Azure Artifacts index URLs into UUID form so that uv stops failing with 401."""


# -- shared options ---------------------------------------------------------------------------

PathsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Files or directories (default: the current directory).",
        show_default=False,
        metavar="PATH...",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Say more on stderr.", envvar="AZFEEDS_VERBOSE")
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print errors only on stderr.", envvar="AZFEEDS_QUIET")
]
DebugOpt = Annotated[
    bool,
    typer.Option(
        "--debug",
        help="Log everything and show tracebacks (secrets still hidden).",
        envvar="AZFEEDS_DEBUG",
    ),
]


AuthOpt = Annotated[
    AuthChoice,
    typer.Option(
        "--auth",
        help="Use only this credential source (default: the first that applies, see README).",
        envvar="AZFEEDS_AUTH",
    ),
]
PatFileOpt = Annotated[
    str | None,
    typer.Option(
        "--pat-file",
        help="Read a PAT from this file ('-': standard input). Secrets are never arguments.",
        envvar="AZFEEDS_PAT_FILE",
        show_default=False,
        metavar="FILE",
    ),
]
ApiUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        help="Feeds API base in place of https://feeds.dev.azure.com (proxies, tests).",
        envvar="AZFEEDS_API_URL",
        show_default=False,
        metavar="URL",
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=1.0,
        help="Seconds to wait for each request.",
        envvar="AZFEEDS_TIMEOUT",
        metavar="SECONDS",
    ),
]


def _api_version_value(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    from .apiversion import ApiVersionError, check_version

    try:
        return check_version(value)
    except ApiVersionError as exc:
        raise typer.BadParameter(str(exc)) from None


ApiVersionOpt = Annotated[
    str | None,
    typer.Option(
        "--api-version",
        help="Ask every organization for this feeds API version (7.1, 7.0, 5.1-preview.1...) "
        "instead of negotiating it.",
        envvar="AZFEEDS_API_VERSION",
        callback=_api_version_value,
        show_default=False,
        metavar="VERSION",
    ),
]


class Network:
    """Options of commands that talk to Azure DevOps (a plain class: nothing to build at import)."""

    __slots__ = ("api_url", "api_version", "auth", "pat_file", "timeout")

    def __init__(
        self,
        auth: str = "auto",
        pat_file: str | None = None,
        api_url: str | None = None,
        timeout: float = 30.0,
        api_version: str | None = None,
    ) -> None:
        self.auth = auth
        self.pat_file = pat_file
        self.api_url = api_url
        self.timeout = timeout
        self.api_version = api_version


def _max_wait() -> float:
    """AZFEEDS_RATE_LIMIT_WAIT: seconds of 429 Retry-After honoured per organization (60)."""
    import os

    from .errors import UsageError

    raw = os.environ.get("AZFEEDS_RATE_LIMIT_WAIT", "60")
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(
            f"AZFEEDS_RATE_LIMIT_WAIT must be a number of seconds, not '{raw}'"
        ) from None
    return max(0.0, value)


def _auth_settings(net: "Network") -> "AuthSettings":
    import os

    from .credentials import AuthSettings

    return AuthSettings(
        method=net.auth,
        pat_file=net.pat_file,
        tenant=os.environ.get("AZFEEDS_TENANT") or None,
        client_id=os.environ.get("AZFEEDS_CLIENT_ID") or None,
        interactive=sys.stdin.isatty() and sys.stderr.isatty(),
        cache_policy=os.environ.get("AZFEEDS_TOKEN_CACHE", "auto"),
    )


def _api_and_broker(common: "Common", net: "Network") -> "tuple[HttpFeedsApi, Broker]":
    """The feeds API client and the credential broker of a command that uses the network
    (logging set up first; requests and msal are imported here, not at start-up)."""
    from .client import ClientSettings, HttpFeedsApi, new_session
    from .credentials import Broker

    _logging(common)
    api = HttpFeedsApi(ClientSettings(timeout=net.timeout, rate_limit_budget=_max_wait()))
    broker = Broker(
        _auth_settings(net),
        prompt=lambda text: _err(text),
        discover_tenant=api.discover_tenant,
        session_factory=new_session,
    )
    return api, broker


def _table_provider(
    common: "Common",
    net: "Network",
    explicit_bases: tuple[str, ...] = (),
    all_views: bool = False,
    name_projects: bool = False,
) -> "TableProvider":
    """The live table provider (imports requests only when called)."""

    def provide(requests: "Sequence[OrgRequest]") -> "FeedTable":
        from .resolve import LiveSettings, live_table

        api, broker = _api_and_broker(common, net)
        progress = Progress(common)
        progress(f"fetching the feeds of {len(requests)} organizations")

        def fetched(name: str) -> None:
            progress.org_done(len(requests))
            common.detail(f"fetched the feeds of '{name}'")

        notes: list[str] = []
        try:
            return live_table(
                requests,
                LiveSettings(
                    api_url=net.api_url,
                    explicit_bases=explicit_bases,
                    all_views=all_views,
                    api_version=net.api_version,
                    name_projects=name_projects,
                ),
                api,
                broker,
                progress=fetched,
                notes=notes,
            )
        finally:
            progress.clear()
            for warning in broker.warnings:
                common.say(f"warning: {warning}")
            for note in notes:
                common.say(f"note: {note}")

    return provide


class Common:
    """Output settings shared by every command."""

    __slots__ = ("command", "debug", "json", "quiet", "verbose")

    def __init__(
        self,
        command: str,
        json: bool = False,
        verbose: bool = False,
        quiet: bool = False,
        debug: bool = False,
    ) -> None:
        self.command = command
        self.json = json
        self.verbose = verbose
        self.quiet = quiet
        self.debug = debug

    def say(self, message: str) -> None:
        """A line on stderr, unless --quiet."""
        if not self.quiet:
            _err(message)

    def detail(self, message: str) -> None:
        """A line on stderr with --verbose or --debug."""
        if (self.verbose or self.debug) and not self.quiet:
            _err(message)


class Progress:
    """One line on stderr that redraws itself: on a terminal only.

    Off when stderr is not a terminal, with --quiet, NO_COLOR or TERM=dumb: then azfeeds
    prints nothing that moves.
    """

    def __init__(self, common: "Common") -> None:
        import os

        self.enabled = (
            sys.stderr.isatty()
            and not common.quiet
            and "NO_COLOR" not in os.environ
            and os.environ.get("TERM") != "dumb"
        )
        self.shown = False
        self.done_count = 0

    def __call__(self, text: str) -> None:
        if self.enabled:
            from .secrets import scrub

            sys.stderr.write("\r\x1b[2K" + scrub(f"azfeeds: {text}") + "\u2026")
            sys.stderr.flush()
            self.shown = True

    def org_done(self, total: int) -> None:
        """An organization's feeds arrived."""
        self.done_count += 1
        self(f"fetched the feeds of {self.done_count} of {total} organizations")

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()
            self.shown = False


def _out(text: str, *, raw: bool = False, userinfo: bool = False) -> None:
    """Results on stdout, scrubbed; control characters escaped unless ``raw`` (a --diff shows
    the files' own bytes, as git diff does). ``userinfo``: URL userinfo kept as written, for
    results known to hold no password ('azfeeds url' refuses one)."""
    from .secrets import printable, scrub

    text = scrub(text, userinfo=not userinfo)
    sys.stdout.write(text if raw else printable(text))
    sys.stdout.flush()


def _err(message: str) -> None:
    """One line on stderr, scrubbed: a newline or control character inside is escaped, so no
    name from a file can forge a line of azfeeds' own or drive the terminal."""
    from .secrets import printable, scrub

    sys.stderr.write(printable(scrub(f"azfeeds: {message}"), one_line=True) + "\n")
    sys.stderr.flush()


def _paths(values: list[str] | None) -> "list[Path]":
    """PATH arguments (default: the current directory)."""
    from pathlib import Path

    return [Path(v) for v in values] if values else [Path(".")]


def _map_files(values: list[str] | None) -> "tuple[Path, ...]":
    """--map FILE (repeatable), else AZFEEDS_MAP: paths separated by os.pathsep (empty parts
    are skipped, so a trailing separator is harmless)."""
    import os
    from pathlib import Path

    if values:
        return tuple(Path(v) for v in values)
    raw = os.environ.get("AZFEEDS_MAP", "")
    paths = tuple(Path(part) for part in raw.split(os.pathsep) if part.strip())
    for path in paths:
        if not path.exists():  # say where the path came from: no flag on the command line names it
            from .errors import FileError

            raise FileError(
                "no such map file (named in AZFEEDS_MAP)",
                path=path,
                hint="fix the path in AZFEEDS_MAP, or unset it to ask the feeds API",
            )
    return paths


def _logging(common: "Common") -> None:
    """Route log records (azfeeds' and its libraries') through the scrubbing handler.

    Offline commands call this only with --verbose or --debug, so they never import logging.
    """
    from .secrets import setup_logging

    debug, info, warning, error = 10, 20, 30, 40  # logging's levels
    if common.debug:
        setup_logging(debug)
    elif common.verbose:
        setup_logging(info)
    else:
        setup_logging(error if common.quiet else warning)


def _guard(common: "Common", work: Callable[[], int]) -> NoReturn:
    """Run a command body: one error line (plus a hint) and the documented exit code."""
    if common.debug or common.verbose:
        _logging(common)
    try:
        code = work()
    except AzfeedsError as exc:
        if common.debug:
            _traceback()
        _report_error(common, exc.kind, exc.message, exc.hint, int(exc.exit_code))
        code = int(exc.exit_code)
    except KeyboardInterrupt:
        _err("interrupted; files were left whole (each one either old or new)")
        code = int(ExitCode.INTERRUPTED)
    except Exception as exc:
        if caused_by_interrupt(exc):
            _err("interrupted; files were left whole (each one either old or new)")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        if common.debug:
            _traceback()
        _report_error(
            common,
            "internal",
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a bug in azfeeds; run again with --debug for the traceback and report it",
            INTERNAL_ERROR,
        )
        code = INTERNAL_ERROR
    raise typer.Exit(code)


def _traceback() -> None:
    """--debug: the traceback of the exception being handled, scrubbed, on stderr (no locals)."""
    import traceback

    from .secrets import scrub

    sys.stderr.write(scrub(traceback.format_exc()))
    sys.stderr.flush()


def _report_error(common: "Common", kind: str, message: str, hint: str | None, code: int) -> None:
    _err(f"error: {message}")
    if hint:
        _err(f"hint: {hint}")
    if common.json:
        from .report import envelope

        error = {"type": kind, "message": message, "hint": hint}
        _out(envelope(common.command, code, None, error=error))


# -- rewrite ----------------------------------------------------------------------------------


@app.command()
def rewrite(
    paths: PathsArg = None,
    mode: Annotated[
        ModeChoice,
        typer.Option(
            "--mode",
            help="uuid: UUID-form URLs with the readable name beside them; add: keep name-form "
            "[[tool.uv.index]] entries and add UUID-form twins; names: back to the readable form.",
            envvar="AZFEEDS_MODE",
        ),
    ] = ModeChoice.uuid,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if anything would change.")
    ] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Write nothing; print a unified diff.")
    ] = False,
    map_file: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="Resolve from saved map files (see 'azfeeds map --output'); no network. "
            "Repeatable: the maps are merged. Default: AZFEEDS_MAP, several paths separated by "
            "the platform's path separator.",
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="No network: use --map and the readable names only. With --check and no map, a "
            "name-form URL counts as a change.",
            envvar="AZFEEDS_OFFLINE",
        ),
    ] = False,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Walk subdirectories.")
    ] = False,
    no_lock: Annotated[
        bool,
        typer.Option("--no-lock", help="Leave lock files alone (uv.lock, poetry.lock, pdm.lock)."),
    ] = False,
    strip_credentials: Annotated[
        bool,
        typer.Option(
            "--strip-credentials",
            help="Remove the password of user:secret@ from Azure URLs (a user name alone stays).",
        ),
    ] = False,
    user_files: Annotated[
        bool,
        typer.Option(
            "--user",
            help="Rewrite the user-level config files of uv, pip and PDM (uv.toml, pip.conf, "
            "PDM's config.toml), not the project.",
        ),
    ] = False,
    system_files: Annotated[
        bool,
        typer.Option(
            "--system",
            help="Rewrite the system-level config files of uv, pip and PDM (/etc/uv/uv.toml, "
            "/etc/pip.conf...), not the project.",
        ),
    ] = False,
    json_out: JsonOpt = False,
    auth: AuthOpt = AuthChoice.auto,
    pat_file: PatFileOpt = None,
    api_url: ApiUrlOpt = None,
    timeout: TimeoutOpt = 30.0,
    api_version: ApiVersionOpt = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Rewrite Azure Artifacts index URLs into UUID form (or back)."""
    common = Common("rewrite", json_out, verbose, quiet, debug)
    net = Network(auth.value, pat_file, api_url, timeout, api_version)

    def work() -> int:
        import os

        from .engine import RewriteOptions
        from .engine import rewrite as run_rewrite
        from .kinds.base import FileKind
        from .planner import Mode

        targets = _paths(paths)
        kinds: tuple[tuple[str, FileKind], ...] = ()
        if user_files or system_files:
            found = _config_targets(common, paths, user=user_files, system=system_files)
            if not found:
                return 0
            targets = [f.path for f in found]
            kinds = tuple((os.fspath(f.path), f.kind) for f in found)

        maps = _map_files(map_file)
        options = RewriteOptions(
            mode=Mode(mode.value),
            check=check,
            diff=diff,
            recursive=recursive,
            lock=not no_lock,
            strip_credentials=strip_credentials,
            offline=offline,
            map_files=maps,
            kinds=kinds,
        )
        provider = None if (maps or offline) else _table_provider(common, net)
        progress = Progress(common)
        try:
            result = run_rewrite(targets, options, provider, progress)
        finally:
            progress.clear()
        if (user_files or system_files) and result.plan.would_change:
            result.warnings.append(
                "a project whose uv.lock recorded the old URLs fails 'uv sync --locked' until "
                "you run 'azfeeds rewrite' there too"
            )
        return _render_rewrite(common, result, options)

    _guard(common, work)


def _config_targets(
    common: "Common", paths: list[str] | None, *, user: bool, system: bool
) -> "list[ConfigFile]":
    """The existing user-level and/or system-level config files of uv, pip and PDM."""
    import os

    from .errors import UsageError
    from .userconfig import SYSTEM, USER, scoped_files, shown, uv_files

    if paths:
        raise UsageError(
            "--user and --system rewrite the config files of uv, pip and PDM, not a PATH",
            hint="run 'azfeeds rewrite PATH' and 'azfeeds rewrite --user' separately",
        )
    scopes = [s for s, on in ((USER, user), (SYSTEM, system)) if on]
    found = [f for scope in scopes for f in scoped_files(os.environ, scope)]
    if not found:
        looked = [f for f in uv_files(os.environ) if f.scope in scopes]
        where = ", ".join(shown(f.path, os.environ) for f in looked[:3])
        common.say(
            f"no {' or '.join(scopes)}-level uv, pip or PDM config file found (uv looks at "
            f"{where}; the README lists the others)"
        )
    return found


def _render_rewrite(common: "Common", result: "RewriteResult", options: "RewriteOptions") -> int:
    from .report import envelope, table

    plan = result.plan
    code = int(ExitCode.CHANGES) if (options.check and plan.would_change) else 0
    warnings = [*result.warnings, *plan.warnings]
    if result.scanned == 0 and not warnings:
        # a --check in the wrong directory (or a monorepo root without --recursive) must not
        # pass in silence (a file skipped with a warning of its own has been said already)
        from .kinds import SUPPORTED_NAMES

        warnings.append(
            f"found no file azfeeds handles ({SUPPORTED_NAMES})"
            + ("" if options.recursive else "; --recursive also walks subdirectories")
        )
    if common.json:
        doc = {
            "mode": plan.mode,
            "check": options.check,
            "dry_run": options.check or options.diff,
            "files_scanned": result.scanned,
            "written": result.written,
            "changes": [*plan.changes, *plan.unresolved],
            "skipped": plan.skipped,
            "variables": plan.variables,
            "actions": plan.actions,
        }
        if options.diff:
            doc["diff"] = result.diff
        _out(envelope("rewrite", code, doc, warnings=warnings))
        return code
    if options.diff:
        _out(result.diff, raw=True)
    else:
        rows = [
            [c.path.as_posix(), str(c.line), c.old_form, c.new_form]
            for c in [*plan.changes, *plan.unresolved]
        ]
        _out(table(["FILE", "LINE", "OLD", "NEW"], rows))
        if plan.variables:
            _out(
                "\nTwin indexes need credentials of their own (the same values as their originals):\n"
            )
            user_width = max(len(var.username_variable) for var in plan.variables)
            password_width = max(len(var.password_variable) for var in plan.variables)
            for var in plan.variables:
                _out(
                    f"  {var.username_variable.ljust(user_width)}"
                    f"  {var.password_variable.ljust(password_width)}"
                    f"  (twin of '{var.twin_of}')\n"
                )
            _out("Print ready-to-paste snippets with 'azfeeds env'.\n")
        if plan.stripped:
            _out("\nPasswords removed from URLs; give the credentials this way instead:\n")
            for item in plan.stripped:
                where = f"{item.path.as_posix()}:{item.line}"
                _out(f"  {where}  {item.hint.removeprefix('password removed: ')}\n")
    for warning in warnings:
        common.say(f"warning: {warning}")
    for skip in plan.skipped:
        common.say(f"skipped {skip.path.as_posix()}:{skip.line} {skip.key}: {skip.reason}")
    for note in (c for c in plan.changes if c.note):
        common.detail(f"{note.path.as_posix()}:{note.line}: {note.note}")
    for action in plan.actions:
        common.say(f"next: {action}")
    common.say(_summary(plan, result, options))
    return code


def _summary(plan: "Plan", result: "RewriteResult", options: "RewriteOptions") -> str:
    paths = {f.source.path for f in plan.changed_files} | {c.path for c in plan.unresolved}
    files = len(paths)
    urls = len(plan.changes) + len(plan.unresolved)
    scanned = f"{result.scanned} file{'s' if result.scanned != 1 else ''} scanned"
    if not plan.would_change:
        return f"nothing to change ({scanned})"
    what = f"{urls} change{'s' if urls != 1 else ''} in {files} file" + ("s" if files != 1 else "")
    if options.check or options.diff:
        return f"would make {what}; run 'azfeeds rewrite' to apply ({scanned})"
    return f"made {what} ({scanned})"


# -- map --------------------------------------------------------------------------------------


@app.command("map")
def map_command(
    paths: PathsArg = None,
    org: Annotated[
        list[str] | None,
        typer.Option(
            "--org",
            help="An organization name, or an Azure DevOps Server collection URL (repeatable).",
            show_default=False,
            metavar="ORG",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the map file here. Onto an existing map, the organizations of this run "
            "replace their entries and the others are kept.",
            dir_okay=False,
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the map-file document on stdout.")
    ] = False,
    views: Annotated[
        bool, typer.Option("--views", help="Fetch the views of every feed, not only those in use.")
    ] = False,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Walk subdirectories of PATH.")
    ] = False,
    auth: AuthOpt = AuthChoice.auto,
    pat_file: PatFileOpt = None,
    api_url: ApiUrlOpt = None,
    timeout: TimeoutOpt = 30.0,
    api_version: ApiVersionOpt = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Print the org/project/feed/view table, or save it as a map file."""
    common = Common("map", False, verbose, quiet, debug)
    net = Network(auth.value, pat_file, api_url, timeout, api_version)

    def work() -> int:
        from .engine import load_workspace, merge_requests, org_requests
        from .errors import FileError, UsageError
        from .fsio import write_text
        from .report import table as render_table
        from .resolve import org_request_from_option, warn_missing_feeds
        from .table import dump_map, load_map, replace_organizations

        given = [org_request_from_option(value) for value in org or []]
        explicit = tuple(r.url.org_base_url for r in given if not r.url.is_cloud)
        requests = list(given)
        if paths or not given:
            ws = load_workspace(_paths(paths), recursive=recursive, lock=True, pinned=explicit)
            requests = merge_requests([*given, *org_requests([*ws.sources, *ws.context])])
        if not requests:
            raise UsageError(
                "no organization to map",
                hint="give --org ORG, or a path whose files hold Azure Artifacts URLs",
            )
        target = _paths([output])[0] if output is not None else None
        if target is not None and not target.parent.is_dir():  # before any request
            raise FileError(
                f"its directory {target.parent} does not exist",
                path=output,
                hint="create the directory first, or give --output a path in an existing one",
            )
        try:
            existing = load_map(target) if target is not None and target.exists() else None
        except FileError as exc:
            # the usual hint ('regenerate it with azfeeds map --output FILE') is this very command
            raise FileError(
                exc.message,
                hint="give --output a file path, not a directory"
                if target is not None and target.is_dir()
                else f"--output merges into an existing file, which must be a map file: repair "
                f"{output}, or give --output a path that does not exist yet",
            ) from None
        feed_table = _table_provider(common, net, explicit, views, name_projects=True)(requests)
        for warning in warn_missing_feeds(feed_table, requests):
            common.say(f"warning: {warning}")
        written = replace_organizations(existing, feed_table) if existing else feed_table
        document = dump_map(written)
        if target is not None:
            write_text(target, document)
            kept = len(written.organizations) - len(feed_table.organizations)
            common.say(
                f"wrote {output}"
                + (f" (kept {kept} other organization{'s' if kept != 1 else ''})" if kept else "")
            )
        if json_out:
            _out(document)
        elif output is None or common.verbose:
            rows = []
            for item in feed_table.sorted_orgs():
                for feed in sorted(item.feeds, key=lambda f: f.name.casefold()):
                    shown_views = (
                        ", ".join(v.name for v in feed.views) if feed.views is not None else "-"
                    )
                    rows.append(
                        [
                            item.name,
                            feed.project.name if feed.project else "-",
                            feed.project.id if feed.project else "-",
                            feed.name,
                            feed.id,
                            feed.scope,
                            shown_views or "(none)",
                        ]
                    )
            headers = ["ORG", "PROJECT", "PROJECT ID", "FEED", "FEED ID", "SCOPE", "VIEWS"]
            _out(render_table(headers, rows))
        return 0

    _guard(common, work)


# -- doctor -----------------------------------------------------------------------------------


@app.command()
def doctor(
    paths: PathsArg = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Walk subdirectories.")
    ] = False,
    map_file: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="Take names and UUIDs from map files instead of the feeds API. Repeatable: "
            "the maps are merged. Default: AZFEEDS_MAP, several paths separated by the "
            "platform's path separator.",
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="No network: skip the feeds API and the index probes.",
            envvar="AZFEEDS_OFFLINE",
        ),
    ] = False,
    json_out: JsonOpt = False,
    auth: AuthOpt = AuthChoice.auto,
    pat_file: PatFileOpt = None,
    api_url: ApiUrlOpt = None,
    timeout: TimeoutOpt = 30.0,
    api_version: ApiVersionOpt = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Explain why uv will get 401s with this setup, and the command that fixes each problem."""
    common = Common("doctor", json_out, verbose, quiet, debug)
    net = Network(auth.value, pat_file, api_url, timeout, api_version)

    def work() -> int:
        import os

        from .doctor import diagnose

        maps = _map_files(map_file)
        provider = None if (offline or maps) else _partial_provider(common, net)
        probe = None if offline else _prober(net)
        if probe is not None:
            _logging(common)
        report = diagnose(
            _paths(paths),
            recursive=recursive,
            env=os.environ,
            map_files=maps,
            provider=provider,
            probe=probe,
            url_command=_has_command("url"),
        )
        return _render_doctor(common, report)

    _guard(common, work)


def _has_command(name: str) -> bool:
    """Whether this build has the command ``name`` (doctor names ``azfeeds url`` only then)."""
    return any(
        (c.name or getattr(c.callback, "__name__", "")) == name for c in app.registered_commands
    )


def _partial_provider(common: "Common", net: "Network") -> "PartialProvider":
    def provide(requests: "Sequence[OrgRequest]") -> "tuple[FeedTable, dict[str, str]]":
        from .resolve import LiveSettings, partial_table

        api, broker = _api_and_broker(common, net)
        progress = Progress(common)
        progress(f"asking {len(requests)} organizations for their feeds")
        notes: list[str] = []
        try:
            return partial_table(
                requests,
                LiveSettings(api_url=net.api_url, api_version=net.api_version),
                api,
                broker,
                progress=lambda _name: progress.org_done(len(requests)),
                notes=notes,
            )
        finally:
            progress.clear()
            for warning in broker.warnings:
                common.detail(f"warning: {warning}")
            for note in notes:
                common.detail(f"note: {note}")

    return provide


def _prober(net: "Network") -> Callable[[str, str | None], tuple[int | None, float, str]]:
    def probe(url: str, password: str | None) -> tuple[int | None, float, str]:
        from .client import ClientSettings, Credential, HttpFeedsApi

        api = HttpFeedsApi(ClientSettings(timeout=net.timeout))
        credential = Credential("UV_INDEX", "basic", password) if password else None
        return api.probe(url, credential)

    return probe


def _render_doctor(common: "Common", report: "DoctorReport") -> int:
    from .report import doctor_result, doctor_text, envelope

    code = int(ExitCode.CHANGES) if report.problems else 0
    if common.json:
        _out(envelope("doctor", code, doctor_result(report), warnings=report.warnings))
        return code
    _out(doctor_text(report))
    for warning in report.warnings:
        common.say(f"warning: {warning}")
    count = len(report.indexes)
    summary = f"{count} Azure index{'es' if count != 1 else ''}, "
    if report.variables:
        found = len(report.variables)
        summary += f"{found} index variable{'s' if found != 1 else ''} with Azure URLs, "
    summary += f"{report.problems} problem{'s' if report.problems != 1 else ''}"
    common.say(summary)
    return code


# -- env --------------------------------------------------------------------------------------


@app.command("env")
def env_command(
    paths: PathsArg = None,
    shell: Annotated[
        ShellChoice, typer.Option("--shell", help="Which shell or CI system to write for.")
    ] = ShellChoice.sh,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Walk subdirectories.")
    ] = False,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish",
            help="The variables for 'uv publish' and twine (upload URL, user, a write-scoped "
            "PAT) instead of the index credentials.",
        ),
    ] = False,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Print the credential variables each index needs, as a snippet (names, never values)."""
    common = Common("env", json_out, verbose, quiet, debug)

    def work() -> int:
        import json
        import os

        from .engine import load_workspace
        from .inspect import collect
        from .keyring_probe import provider_for
        from .kinds.base import FileKind
        from .planner import table_from_annotations
        from .report import envelope
        from .snippets import (
            keyring_setup,
            needs,
            publish_targets,
            render,
            render_keyring,
            render_publish,
        )
        from .urls import look_alike_warning

        ws = load_workspace(_paths(paths), recursive=recursive, lock=False)
        configs = [s for s in ws.sources if s.kind is not FileKind.UV_LOCK]
        indexes = collect(configs, table_from_annotations(configs))
        for index in indexes:
            if index.is_uv:
                index.provider = provider_for(index.site.path, os.environ)
        items = needs(indexes)
        setup = None if publish else keyring_setup(indexes)
        targets = publish_targets(indexes) if publish else []
        warnings = list(
            dict.fromkeys(
                f"{i.site.location}: {look_alike_warning(i.url)}"
                for i in indexes
                if i.url.look_alike
            )
        )
        for warning in warnings:
            common.say(f"warning: {warning}")
        if publish:
            snippet = render_publish(targets, shell.value) if targets else ""
            if common.json:
                result_doc = {
                    "shell": shell.value,
                    "publish": [
                        {"index": t.index, "organization": t.organization, "url": t.url}
                        for t in targets
                    ],
                    "snippet": snippet,
                }
                _out(envelope("env", 0, result_doc, warnings=warnings))
                return 0
            if not targets:
                common.say("no Azure index in uv configuration: nothing to publish to")
                return 0
            _out(snippet)
            return 0
        head = render_keyring(setup, shell.value) if setup is not None else ""
        if common.json:
            result = {
                "shell": shell.value,
                "keyring": None
                if setup is None
                else {
                    "users": list(setup.users),
                    "provider": setup.provider,
                    "provider_source": setup.provider_source,
                    "endpoints": json.loads(setup.endpoints),
                },
                "variables": [
                    {
                        "index": n.index,
                        "organization": n.organization,
                        "username_variable": n.username_variable,
                        "password_variable": n.password_variable,
                        "secret": n.secret,
                        "twin_of": n.twin_of,
                        "client": n.client,
                    }
                    for n in items
                ],
                "snippet": head + (render(items, shell.value, os.environ) if items else ""),
            }
            _out(envelope("env", 0, result, warnings=warnings))
            return 0
        if not items:
            common.say(
                "no named Azure index and no ${VAR} in an Azure URL: uv reads "
                "UV_INDEX_<NAME>_* for [[tool.uv.index]] entries with a name, Poetry "
                "POETRY_HTTP_BASIC_<NAME>_* for [[tool.poetry.source]], and PDM and pip the "
                "${VAR} names in their URLs (PDM sources, pip requirements files)"
            )
            if head:
                _out(head)
            return 0
        _out(head + render(items, shell.value, os.environ))
        return 0

    _guard(common, work)


# -- url --------------------------------------------------------------------------------------


@app.command("url")
def url_command(
    values: Annotated[
        list[str],
        typer.Argument(
            help="Index URLs or whole variable values (several URLs, name=URL words); '-' reads "
            "one value per line from standard input.",
            show_default=False,
            metavar="URL...",
        ),
    ],
    mode: Annotated[
        UrlModeChoice,
        typer.Option(
            "--mode", help="uuid: UUID form; names: the readable form back from the feed table."
        ),
    ] = UrlModeChoice.uuid,
    map_file: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="Resolve from saved map files; no network. Repeatable: the maps are merged. "
            "Default: AZFEEDS_MAP, several paths separated by the platform's path separator.",
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="No network: resolve from --map only (a URL already in the asked form needs "
            "no map).",
            envvar="AZFEEDS_OFFLINE",
        ),
    ] = False,
    json_out: JsonOpt = False,
    auth: AuthOpt = AuthChoice.auto,
    pat_file: PatFileOpt = None,
    api_url: ApiUrlOpt = None,
    timeout: TimeoutOpt = 30.0,
    api_version: ApiVersionOpt = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Convert index URLs, or index-variable values, into UUID form (or back).

    For UV_INDEX, UV_DEFAULT_INDEX, UV_INDEX_URL, UV_EXTRA_INDEX_URL, PIP_INDEX_URL and
    PIP_EXTRA_INDEX_URL as CI files, Dockerfiles and shell profiles set them: one result per line,
    in the shape given (several URLs, name=URL words); only the project, feed and view segments
    change. Placeholders and a user name alone are kept; a URL with a password is refused (exit 2).
    """
    common = Common("url", json_out, verbose, quiet, debug)
    net = Network(auth.value, pat_file, api_url, timeout, api_version)

    def work() -> int:
        from .errors import UsageError
        from .table import load_maps
        from .urlvalue import convert, org_requests, read_values

        if "-" in values and pat_file == "-":
            raise UsageError(
                "standard input cannot hold both the PAT (--pat-file -) and the URLs (-)",
                hint="give the PAT in a file, or the URLs as arguments",
            )
        inputs: list[tuple[str, str]] = []
        for number, value in enumerate(values, 1):
            if value == "-":
                lines = sys.stdin.read().splitlines()
                inputs.extend((f"<stdin>:{n}", line) for n, line in enumerate(lines, 1))
            else:
                inputs.append((f"<argument>:{number}", value))
        maps = _map_files(map_file)
        map_table = load_maps(maps)
        parsed = read_values(inputs, map_table.pinned_bases() if map_table else ())
        if map_table is not None:
            feed_table = map_table
            hint = (
                "no map file lists it: 'azfeeds map --org {org} --output FILE' adds it to FILE "
                "(or give one more --map)"
            )
        elif offline:
            feed_table = None
            hint = "give --map FILE, or run without --offline"
        else:  # the network only when some URL needs a lookup
            requests = org_requests(parsed, mode.value)
            feed_table = _table_provider(common, net)(requests) if requests else None
            hint = "check the organization name; 'azfeeds map --org {org}' lists its feeds"
        results, warnings = convert(parsed, feed_table, mode.value, hint)
        if common.json:
            from .report import envelope, url_result

            doc = url_result(mode.value, results)
            _out(envelope("url", 0, doc, warnings=warnings, keep_userinfo=True), userinfo=True)
            return 0
        for warning in warnings:
            common.say(f"warning: {warning}")
        _out("".join(r.output + "\n" for r in results), userinfo=True)
        return 0

    _guard(common, work)


# -- login / logout ---------------------------------------------------------------------------


class LoginMethod(str, Enum):
    """--method."""

    device_code = "device-code"
    browser = "browser"


TenantOpt = Annotated[
    str | None,
    typer.Option(
        "--tenant",
        help="Entra tenant id or domain (default: discovered from --org, else 'organizations').",
        envvar="AZFEEDS_TENANT",
        show_default=False,
        metavar="TENANT",
    ),
]
ClientIdOpt = Annotated[
    str | None,
    typer.Option(
        "--client-id",
        help="Public client app id for the sign-in (default: the Azure CLI's app).",
        envvar="AZFEEDS_CLIENT_ID",
        show_default=False,
        metavar="ID",
    ),
]
CachePolicyOpt = Annotated[
    str,
    typer.Option(
        "--token-cache",
        help="auto: encrypted where the OS allows, else an owner-only file (with a warning); "
        "encrypted-only: refuse the plain file.",
        envvar="AZFEEDS_TOKEN_CACHE",
        metavar="auto|encrypted-only",
    ),
]


def _entra_config(tenant: str | None, client_id: str | None) -> "EntraConfig":
    import os

    from .credentials import entra_config

    config: EntraConfig = entra_config(os.environ, tenant, client_id)
    return config


@app.command()
def login(
    method: Annotated[
        LoginMethod, typer.Option("--method", help="How to sign in.")
    ] = LoginMethod.device_code,
    org: Annotated[
        str | None,
        typer.Option(
            "--org",
            help="An organization whose tenant to sign in to (read from its 401 challenge).",
            show_default=False,
            metavar="ORG",
        ),
    ] = None,
    tenant: TenantOpt = None,
    client_id: ClientIdOpt = None,
    token_cache: CachePolicyOpt = "auto",
    api_url: ApiUrlOpt = None,
    timeout: TimeoutOpt = 30.0,
    api_version: ApiVersionOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Sign in to Microsoft Entra ID and keep the token for later runs (Azure DevOps Services)."""
    common = Common("login", json_out, verbose, quiet, debug)

    def work() -> int:
        from . import auth
        from .errors import UsageError

        _logging(common)
        if token_cache not in ("auto", "encrypted-only"):
            raise UsageError("--token-cache must be 'auto' or 'encrypted-only' for login")
        chosen = tenant
        if chosen is None and org is not None:
            from .client import API_VERSION, ClientSettings, HttpFeedsApi, feeds_url
            from .resolve import LiveSettings, org_request_from_option, target_for

            target = target_for(org_request_from_option(org), LiveSettings(api_url=api_url))
            chosen = HttpFeedsApi(ClientSettings(timeout=timeout)).discover_tenant(
                feeds_url(target.api_base, api_version or API_VERSION)
            )
            common.detail(f"tenant of '{org}': {chosen or 'not announced'}")
        store = auth.TokenCacheStore(auth.default_cache_dir(), policy=token_cache)
        user = auth.login(_entra_config(chosen, client_id), store, method.value, _err)
        for warning in getattr(store, "warnings", []):
            common.say(f"warning: {warning}")
        if common.json:
            from .report import envelope

            result = {"user": user, "token_cache": str(store.location())}
            _out(envelope("login", 0, result, warnings=list(getattr(store, "warnings", []))))
            return 0
        _out(f"signed in as {user}; token cache: {store.location()}\n")
        return 0

    _guard(common, work)


@app.command()
def logout(
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Forget the token kept by 'azfeeds login' (deletes the token cache)."""
    common = Common("logout", json_out, verbose, quiet, debug)

    def work() -> int:
        from . import auth

        _logging(common)
        store = auth.TokenCacheStore(auth.default_cache_dir(), policy="auto")
        removed = auth.logout(_entra_config(None, None), store)
        if common.json:
            from .report import envelope

            result = {"removed": removed, "token_cache": str(store.location())}
            _out(envelope("logout", 0, result))
            return 0
        _out("signed out\n" if removed else "nothing to forget: no token was cached\n")
        return 0

    _guard(common, work)


# -- entry point --------------------------------------------------------------------------------


def _click_exception(exc: Exception) -> tuple[str, int] | None:
    """Typer's vendored click errors, recognised without importing click."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "ClickException" not in names:
        return None
    formatter = getattr(exc, "format_message", None)
    message = formatter() if callable(formatter) else str(exc)
    return str(message), int(getattr(exc, "exit_code", 2))


def _app_for(args: list[str]) -> typer.Typer:
    """The app with only the command that ``args`` run, when the first argument names one: Typer
    turns the signature of every command it holds into options before it parses anything, and
    one command's are all a run needs (``azfeeds --help`` and the like get the whole app).
    ``azfeeds --version`` alone needs none: its eager option answers before any command."""
    if args == ["--version"]:
        return _app_with([])
    for info in app.registered_commands if args else ():
        if info.callback is not None and args[0] == (
            info.name or typer.main.get_command_name(info.callback.__name__)
        ):
            return _app_with([info])
    return app


def _app_with(commands: list[typer.models.CommandInfo]) -> typer.Typer:
    """A copy of the app that holds only ``commands``."""
    from copy import copy

    only = copy(app)
    only.registered_commands = commands
    return only


_JSON_ENVELOPE_COMMANDS = frozenset({"rewrite", "doctor", "env", "login", "logout"})


def _without_unset_envvar(message: str) -> str:
    """Click names an option's variable in every bad-value error ("Invalid value for '--timeout'
    (env var: 'AZFEEDS_TIMEOUT')"), even when the value came from the command line; name it only
    when it is set, so that the message points at where the bad value is."""
    import os
    import re

    return re.sub(
        r" \(env var: '([A-Za-z0-9_]+)'\)",
        lambda m: m.group(0) if os.environ.get(m.group(1)) else "",
        message,
    )


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (no sys.exit)."""
    args = sys.argv[1:] if argv is None else argv
    command = typer.main.get_command(_app_for(args))
    try:
        result = command.main(args=args, prog_name="azfeeds", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        _err("aborted")
        return int(ExitCode.INTERRUPTED)
    except KeyboardInterrupt:
        _err("interrupted")
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:
        known = _click_exception(exc)
        if known is None:
            raise
        message, code = known
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.stdout.write(message + "\n")
            return int(ExitCode.USAGE)
        message = _without_unset_envvar(message)
        sub = next((a for a in args if not a.startswith("-")), None)
        known_commands = getattr(command, "commands", {})
        where = f"azfeeds {sub} --help" if sub in known_commands else "azfeeds --help"
        first = message.strip().splitlines()[0]
        _err(f"error: {first} (see '{where}')")
        code = code if code else int(ExitCode.USAGE)
        if "--json" in args and sub in _JSON_ENVELOPE_COMMANDS:  # "errors included" (README)
            from .report import envelope

            error = {"type": "usage", "message": first, "hint": f"see '{where}'"}
            _out(envelope(sub, code, None, error=error))
        return code
    return int(result) if isinstance(result, int) else 0
