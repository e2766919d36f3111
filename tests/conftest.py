import os
import tempfile

# Players' launch files go to a private cache for the test session.
os.environ.setdefault("UNITY_NB_CACHE", tempfile.mkdtemp(prefix="unity-nb-test-cache-"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import unity_nb.envs  # noqa: E402,F401  (installs the protobuf hook before mlagents_envs loads)


@pytest.fixture
def unity_env():
    """Open the real UnityEnvironment on a built-in scene's player file; closed afterwards."""
    from unity_nb.envs.unity import UnityConnection, player_file

    opened = []

    def open_(scene, **kwargs):
        conn = UnityConnection(player_file(scene), **kwargs)
        opened.append(conn)
        return conn

    yield open_
    for conn in opened:
        conn.close()


def random_actions(space, n, seed):
    space.seed(seed)
    return [space.sample() for _ in range(n)]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def trained_basic(tmp_path_factory):
    """One Basic run trained through the player stand-in, shared by the tests that read it."""
    import unity_nb.train as ut

    run = ut.train("Basic", runs_dir=tmp_path_factory.mktemp("runs"), steps=20_000)
    run.wait(timeout=600)
    return run
