"""The one git helper, on real repositories."""

from __future__ import annotations

import subprocess

import pytest

from ipex_integration.errors import EXIT_FAILED
from ipex_integration.git import ERROR_LIMIT, Git, GitError, error_text
from ipex_integration.proc import CommandResult


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    path.mkdir()
    for args in (["init", "-q"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x"],
                 ["tag", "v1.2.3"]):
        subprocess.run(["git", *args], cwd=path, check=True)
    return path


def test_commit_and_describe_ignore_an_inherited_git_dir(repo, tmp_path):
    other = tmp_path / "other"
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    git = Git(environ={"PATH": "/usr/bin:/bin", "GIT_DIR": str(other / ".git")})
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert git.commit_of(repo) == head
    assert git.commit_of(repo, "v1.2.3") == head
    assert git.commit_of(repo, "no-such-ref") is None
    assert git.describe(repo) == "v1.2.3"
    assert git.env["GIT_TERMINAL_PROMPT"] == "0"


def test_failure_is_one_line_of_gits_reason(tmp_path):
    with pytest.raises(GitError) as info:
        Git().check(["clone", "--quiet", "--", f"file://{tmp_path}/nope", str(tmp_path / "c")], what="cloning failed")
    assert info.value.exit_code == EXIT_FAILED
    assert info.value.message.startswith("cloning failed: ") and "\n" not in info.value.message
    assert "does not appear to be a git repository" in info.value.message


def test_error_text_drops_control_characters_and_is_capped():
    result = CommandResult(("git",), 128, "", "hint: advice\nfatal: bad\x00 name\x1b[31m\n" + "x" * 5000 + "\n")
    text = error_text(result)
    assert text == "bad name[31m"  # git's fatal line wins over advice and noise; NUL and ESC gone
    long = error_text(CommandResult(("git",), 1, "", "y" * 5000))
    assert len(long) == ERROR_LIMIT and long.endswith("...")
    assert error_text(CommandResult(("git",), -1, "", "", timed_out=True)) == "timed out"
