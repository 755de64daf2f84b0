#!/usr/bin/env bash
# azfeeds migration: the script run in each repository of a campaign.
#
# multi-gitter runs it in each clone (`multi-gitter run "$PWD/multi-gitter-run.sh" ...`); the
# updatecli and Azure Pipelines templates beside it run it too, and it works by hand in any
# repository. The working directory is the repository.
#
# Settings (environment):
#   AZFEEDS_MAP          the campaign's map file (`azfeeds map --org A --org B --views --output map.json`),
#                        an absolute path: every repository resolves from it, offline. Required.
#   AZFEEDS_REPORT_DIR   absolute directory for the campaign's JSON reports: this repository's goes
#                        to <phase>/<repository>.json, phase = dry-run, apply or roll-back
#                        (default: $TMPDIR/azfeeds-reports). Never inside the repository, where it
#                        would be committed.
#   DRY_RUN              1 or true: check only (`--check`), write nothing. multi-gitter sets
#                        DRY_RUN=true with --dry-run; updatecli sets true (diff) or false (apply).
#   AZFEEDS_MODE         uuid (default: the migration) or names (the roll-back).
#   REPOSITORY           the repository's name in reports (multi-gitter sets it; otherwise the
#                        path of the `origin` remote, else the directory name).
#   AZFEEDS_COMMIT       1: commit the changed files with the pull request text as the message
#                        (for `multi-gitter run --manual-commit`, which then takes the pull
#                        request's title and description from that commit).
#   AZFEEDS_CHANGED_EXIT_CODE  exit code when files changed or would change (default 0;
#                        the updatecli template sets 10 for its `changedif: exitcode`).
#
# Exit status: 0 = done, whether or not files changed (multi-gitter opens a pull request when
# files changed); non-zero = this repository failed and nothing was written (azfeeds writes all
# files or none): azfeeds' own exit code (2 usage, 5 lookup, 6 a file it cannot read or parse...).
# Standard output: one line per repository. The JSON report goes to the report file only.
set -u -o pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
summary="$here/campaign_summary.py"
python="${AZFEEDS_PYTHON:-python3}"
changed_exit="${AZFEEDS_CHANGED_EXIT_CODE:-0}"

say() { printf 'azfeeds-migrate: %s\n' "$*" >&2; }

case "$changed_exit" in
  "" | *[!0-9]*) say "AZFEEDS_CHANGED_EXIT_CODE must be a number, not '$changed_exit'"; exit 2 ;;
esac

root="$(git rev-parse --show-toplevel 2>/dev/null || pwd -P)"
root="$(cd "$root" && pwd -P)"

# The repository's name: multi-gitter's REPOSITORY, else the path of the origin remote (never its
# user or password), else the directory name.
repository="${REPOSITORY:-}"
if [ -z "$repository" ]; then
  origin="$(git -C "$root" remote get-url origin 2>/dev/null || true)"
  case "$origin" in
    *://*) origin="${origin#*://}"; origin="${origin#*/}" ;;  # scheme, user:password@host: dropped
    *:*) origin="${origin#*:}" ;;                                 # scp-like user@host:path
  esac
  origin="${origin#/}"
  origin="${origin%.git}"
  origin="${origin/\/_git\//\/}"    # Azure Repos: org/project/_git/repo -> org/project/repo
  repository="${origin:-$(basename "$root")}"
fi
slug="$(printf '%s' "$repository" | tr -c 'A-Za-z0-9._-' '_')"

report_dir="${AZFEEDS_REPORT_DIR:-${TMPDIR:-/tmp}/azfeeds-reports}"
case "$report_dir" in
  /*) ;;
  *) say "AZFEEDS_REPORT_DIR must be an absolute path (this script runs inside each repository)"; exit 2 ;;
esac
# Never inside the repository: its nearest existing directory, symbolic links resolved, decides.
probe="$report_dir"
while [ ! -d "$probe" ]; do probe="$(dirname "$probe")"; done
case "$(cd "$probe" && pwd -P)/" in
  "$root"/*) say "AZFEEDS_REPORT_DIR is inside the repository ($root): the report would be committed"; exit 2 ;;
esac
if ! mkdir -p "$report_dir"; then
  say "cannot create AZFEEDS_REPORT_DIR $report_dir"
  exit 2
fi
report_dir="$(cd "$report_dir" && pwd -P)"
if [ ! -w "$report_dir" ]; then
  say "AZFEEDS_REPORT_DIR $report_dir is not writable"
  exit 2
fi
# Checked before azfeeds runs: once files are written, the report must be too.
if ! command -v "$python" >/dev/null 2>&1; then
  say "$python not found: the reports need Python 3 (set AZFEEDS_PYTHON)"
  exit 2
fi
case "$report_dir/" in
  "$root"/*) say "AZFEEDS_REPORT_DIR is inside the repository ($root): the report would be committed"; exit 2 ;;
esac

work="$(mktemp -d "${TMPDIR:-/tmp}/azfeeds-migrate.XXXXXX")" || exit 2
trap 'rm -rf "$work"' EXIT

mode="${AZFEEDS_MODE:-uuid}"
dry=""
case "${DRY_RUN:-}" in
  1 | true | TRUE | True | yes) dry="--dry-run" ;;
  "" | 0 | false | FALSE | False | no) ;;
  *) problem="DRY_RUN must be 1, true, 0 or false, not '${DRY_RUN}'" ;;
esac
map="${AZFEEDS_MAP:-}"
case "$mode" in
  uuid | names) ;;
  *) problem="AZFEEDS_MODE must be uuid (the migration) or names (the roll-back), not '$mode'" ; mode=uuid ;;
esac
if [ -z "$map" ]; then
  problem="AZFEEDS_MAP is not set: make the campaign's map once with 'azfeeds map --org ORG --views --output map.json' and give its absolute path"
elif [ ! -f "$map" ]; then
  problem="AZFEEDS_MAP: no such file: $map (one absolute path: this script runs inside each repository; merge maps into one file with 'azfeeds map --org ORG --views --output FILE')"
fi

# One directory per phase under AZFEEDS_REPORT_DIR: dry-run, apply, roll-back.
if [ -n "$dry" ]; then phase=dry-run; elif [ "$mode" = names ]; then phase=roll-back; else phase=apply; fi
report="$report_dir/$phase/$slug.json"

record() {
  "$python" "$summary" record --repository "$repository" --mode "$mode" $dry \
    --report "$report" --changed-exit-code "$changed_exit" "$@"
}

if [ -n "${problem:-}" ]; then
  say "$problem"
  record --exit-code 2 --reason "$problem"
  exit 2
fi

# The one azfeeds run of this repository: offline, from the campaign's map, every subdirectory.
out="$work/azfeeds.json"
err="$work/azfeeds.err"
if [ -n "$dry" ]; then
  azfeeds rewrite --map "$map" --offline --recursive --mode "$mode" --check --json >"$out" 2>"$err"
else
  azfeeds rewrite --map "$map" --offline --recursive --mode "$mode" --json >"$out" 2>"$err"
fi
code=$?
cat "$err" >&2

written="$work/written"
record --exit-code "$code" --azfeeds-json "$out" --stderr "$err" --written-list "$written"
status=$?
say "report: $report"

if [ "${AZFEEDS_COMMIT:-}" = 1 ] && [ -z "$dry" ] && [ -s "$written" ]; then
  message="$work/message"
  "$python" "$summary" pr-body --commit-message --output "$message" "$report" || exit 70
  identity=()
  if ! git config user.email >/dev/null; then
    identity=(-c user.name=azfeeds -c user.email=azfeeds@users.noreply.localhost)
  fi
  git add --pathspec-from-file="$written" --pathspec-file-nul || exit 70
  git ${identity[@]+"${identity[@]}"} commit --quiet --file "$message" || exit 70
fi
exit "$status"
