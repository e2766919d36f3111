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
