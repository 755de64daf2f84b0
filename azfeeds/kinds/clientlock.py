"""What poetry.lock and pdm.lock share: a content hash over pyproject.toml, kept true.

Poetry and PDM hash the pyproject's sources into their lock (DESIGN.md section 4a), so a source
URL that azfeeds rewrites would leave the lock stale: ``poetry install``, ``poetry check --lock``,
``pdm lock --check`` and ``pdm install --check`` would then fail. Such a lock follows its
pyproject.toml in two steps, both driven by the planner:

1. ``check``, before anything is decided for good: the lock's current hash must be reproduced
   from the pyproject as it is now, by one of the client's known algorithms (``lockhash``). When
   none reproduces it (a stale lock, an unknown client version, a layout azfeeds does not
   update), the planner leaves that client's sources alone and reports them as skipped.
2. ``follow_pyproject``, after the pyproject's edits are planned: the new hash, computed from the
   pyproject's new text with the same algorithm, replaces the old one token for token (plus what
   the kind adds, Poetry's ``[package.source] url``). ``--mode names`` computes the old value
   back, so the file returns byte for byte.

These locks have no sites of their own: nothing in them is resolved against the feeds API.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from ..errors import FileError
from ..tomlscan import KeyPath, TomlString, TomlSyntaxError, scan_toml
from .base import (
    Action,
    Change,
    Edit,
    FilePlan,
    Kind,
    LockInputs,
    LockPlan,
    Role,
    SourceFile,
    ValueEdit,
    bug,
)
from .lockhash import HashVariant, compute, find_variant


def plain_data(text: str, path: Path) -> dict[str, Any]:
    """A TOML text as plain Python data (tomlkit, through ``tomledit``; exit 6 if malformed)."""
    from ..tomledit import parse_checked

    data: dict[str, Any] = parse_checked(text, path).unwrap()
    return data


class ClientLock(Kind):
    """poetry.lock or pdm.lock: a lock whose content hash covers pyproject.toml."""

    is_lock = True
    toml_values = True
    annotates = False

    role: ClassVar[Role]  # the pyproject sources whose URLs the hash covers
    client: ClassVar[str]  # "Poetry", "PDM"
    command: ClassVar[str]  # what the user runs when azfeeds cannot keep the lock true
    hash_path: ClassVar[KeyPath]  # ("metadata", "content-hash")
    variants: ClassVar[tuple[HashVariant, ...]]

    # -- scanning -------------------------------------------------------------------------------

    def keep(self, path: KeyPath, value: str) -> bool:
        """The strings a scan records: everything in ``[metadata]``, and what the kind adds."""
        return bool(path) and path[0] == "metadata"

    def scan(self, source: SourceFile, pinned: tuple[str, ...]) -> None:
        try:
            source.toml = scan_toml(source.text, self.keep, tables=False, duplicates=False)
        except TomlSyntaxError as exc:
            raise FileError(
                f"is not valid TOML: {exc.message} (column {exc.column})",
                path=source.path,
                line=exc.line,
                hint=f"run '{self.command}' to write it anew",
            ) from None

    def stored(self, lock: SourceFile) -> TomlString | None:
        """The hash string token in the lock."""
        lock.ensure_scanned()
        assert lock.toml is not None
        return next((s for s in lock.toml.strings if s.path == self.hash_path), None)

    # -- step 1: verify first -------------------------------------------------------------------

    def unsupported(self, lock: SourceFile, data: Mapping[str, Any]) -> str | None:
        """Why this lock's layout is one azfeeds does not update (None: it is one it does)."""
        return None

    def check(self, lock: SourceFile, pyproject: SourceFile) -> tuple[HashVariant | None, str]:
        """The variant that reproduces the lock's hash from the pyproject as it is now, or the
        reason why none does."""
        token = self.stored(lock)
        data = plain_data(pyproject.text, pyproject.path)
        reason = self.unsupported(lock, data)
        if reason is not None:
            return None, reason
        key = ".".join(str(p) for p in self.hash_path)
        if token is None:
            return None, f"it has no {key}"
        if token.value != lock.text[token.content_start : token.content_end]:
            return None, f"its {key} is written with escape sequences"
        variant = find_variant(self.variants, data, token.value)
        if variant is None:
            return None, (
                f"its {key} does not match pyproject.toml (the lock is stale, or was written by a "
                f"{self.client} version azfeeds does not know)"
            )
        return variant, ""

    def check_beside(
        self, pyproject: SourceFile, lock: SourceFile | None, unread: Mapping[Path, str]
    ) -> tuple[HashVariant | None, str] | None:
        """Step 1 for the lock beside ``pyproject`` (``lock``: that lock as read, if it was):
        ``check``'s answer; (None, why) when the lock is there but was not read (``unread``: the
        reason per path); None when there is no lock, so nothing to keep true."""
        if lock is not None:
            return self.check(lock, pyproject)
        path = pyproject.path.parent / self.kind.value
        if path in unread:
            return None, f"it is there but was not read ({unread[path]})"
        return None

    # -- step 2: follow ------------------------------------------------------------------------

    def follow_up(self, lock: SourceFile, inputs: LockInputs) -> LockPlan:
        return LockPlan(FilePlan(lock))  # only ``follow_pyproject`` changes these locks

    def follow_pyproject(
        self,
        lock: SourceFile,
        variant: HashVariant,
        pyproject: FilePlan,
        url_changes: Mapping[str, str],
    ) -> LockPlan:
        """The lock's edits for the pyproject's planned new text (``url_changes``: the old and
        new URLs of the sources this lock follows)."""
        out = LockPlan(FilePlan(lock))
        token = self.stored(lock)
        assert token is not None  # check() passed
        new_data = plain_data(pyproject.new_text(), pyproject.source.path)
        new_hash = compute(variant, new_data, token.value)
        if new_hash is None:  # the new text holds nothing the old did not: cannot happen
            raise bug(out.file, f"the new {self.client} hash cannot be computed")
        self.follow_urls(out, url_changes)
        if new_hash != token.value:
            self._edit(out, token, new_hash, "hash")
        return out

    def follow_urls(self, out: LockPlan, url_changes: Mapping[str, str]) -> None:
        """URLs the lock stores besides the hash (Poetry's ``[package.source] url``)."""

    def replace(self, out: LockPlan, token: TomlString, value: str) -> None:
        """Replace one string token's content (no report)."""
        out.file.edits.append(Edit(token.content_start, token.content_end, value))
        out.file.value_edits.append(ValueEdit(token.path, value))

    def _edit(self, out: LockPlan, token: TomlString, value: str, what: str) -> None:
        self.replace(out, token, value)
        out.changes.append(
            Change(
                out.file.source.path,
                token.line,
                ".".join(str(p) for p in token.path),
                Action.LOCK,
                token.value,
                value,
                f"{what} {_short(token.value)}",
                f"{what} {_short(value)}",
                "",
                None,
            )
        )

    def verify(self, fp: FilePlan, new: str, pinned: tuple[str, ...]) -> None:
        """The new lock scans, and its recorded strings are the old ones with the planned
        values (the edits touch string tokens only, so nothing else can differ)."""
        scan = fp.source.toml
        assert scan is not None  # a lock with edits was scanned when planned
        try:
            after = scan_toml(new, self.keep, tables=False, duplicates=False).strings
        except TomlSyntaxError as exc:
            raise bug(fp, f"the rewritten lock does not scan ({exc.message})") from None
        edits = {v.path: v.value for v in fp.value_edits}
        expected = [(s.path, edits.get(s.path, s.value)) for s in scan.strings]
        if expected != [(s.path, s.value) for s in after]:
            raise bug(fp, "the rewritten lock differs in more than the planned strings")


def _short(value: str) -> str:
    algorithm, sep, digest = value.rpartition(":")
    return f"{algorithm}{sep}{digest[:12]}"
