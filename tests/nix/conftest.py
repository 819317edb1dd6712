from __future__ import annotations

import pytest

from .nixeval import NIX_BIN, NIXPKGS_LIB, StandIn


@pytest.fixture(scope="session")
def stand_in(tmp_path_factory) -> StandIn:
    if NIX_BIN is None or NIXPKGS_LIB is None:
        pytest.skip("no current Nix or nixpkgs lib")
    return StandIn(tmp_path_factory.mktemp("nix"))
