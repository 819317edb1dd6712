"""argv.take_flags: our flags out of another program's command line, exact spellings only."""

from __future__ import annotations

import pytest

from ipex_integration.argv import TakenFlag, take_flags
from ipex_integration.errors import UsageError

VALUED = {"--comfyui": "a directory, e.g. --comfyui ~/ComfyUI"}


def test_both_spellings_and_the_rest_in_order():
    taken, rest = take_flags(
        ["--port", "8188", "--comfyui", "/a", "--cpu", "--comfyui=/b", "--lowvram"],
        switches=("--cpu",), valued=VALUED,
    )
    assert taken == [TakenFlag("--comfyui", "/a", ("--comfyui", "/a")), TakenFlag("--cpu", None, ("--cpu",)),
                     TakenFlag("--comfyui", "/b", ("--comfyui=/b",))]
    assert rest == ["--port", "8188", "--lowvram"]


def test_nothing_after_a_bare_double_dash_and_no_abbreviations():
    taken, rest = take_flags(["--comf", "x", "--", "--cpu"], switches=("--cpu",), valued=VALUED)
    assert taken == [] and rest == ["--comf", "x", "--", "--cpu"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--cpu=1"], "--cpu takes no value (got '--cpu=1')"),
     (["--comfyui"], "--comfyui needs a directory, e.g. --comfyui ~/ComfyUI")],
)
def test_bad_flags_are_one_line_errors(argv, message):
    with pytest.raises(UsageError) as err:
        take_flags(argv, switches=("--cpu",), valued=VALUED)
    assert err.value.message == message
