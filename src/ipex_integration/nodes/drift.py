"""The cheap drift check `ipex nodes list` makes: a file of an installed node modified after the recorded
install time. Reading mtimes costs a directory walk, not a hash of every byte (`ipex nodes verify` and
`ipex nodes list --verify` re-hash). It sees edits and new files; a deleted file needs the re-hash.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

# Files written during the install itself carry mtimes up to the moment the record is made; file systems
# round mtimes (FAT: 2 s). Newer than the record by more than this is an edit.
SLACK_S = 2.0
# What Python and ComfyUI write into a node's folder when it merely runs: not the user's edits.
_IGNORED_DIRS = {"__pycache__", ".git"}
_IGNORED_SUFFIXES = (".pyc", ".pyo")


def changed_since(node_dir: Path, installed_at: str) -> str | None:
    """The first file (relative path) modified after `installed_at` (ISO 8601), None when none is; "(missing)"
    when the folder is gone."""
    if not node_dir.is_dir():
        return "(missing)"
    try:
        limit = datetime.fromisoformat(installed_at).timestamp() + SLACK_S
    except ValueError:
        return None  # a record without a usable time: only the re-hash can tell
    for root, dirs, files in os.walk(node_dir):
        dirs[:] = sorted(d for d in dirs if d not in _IGNORED_DIRS)
        for name in sorted(files):
            if name.endswith(_IGNORED_SUFFIXES):
                continue
            path = Path(root, name)
            try:
                if path.lstat().st_mtime > limit:
                    return str(path.relative_to(node_dir))
            except OSError:
                continue
    return None
