"""The kit's observation filter (trainer/normalize.py) against RLlib's own: the same running statistics and
the same normalised observations, one batch per exchange instead of one Welford step per row."""

import gymnasium as gym
import numpy as np
import pytest
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.filter import MeanStdFilter as RLlibFilter

from unity_nb.trainer.normalize import MeanStdFilter, normalise_rows

SPACE = gym.spaces.Box(-np.inf, np.inf, (8,), np.float32)


def batches(seed=0, sizes=(1, 48, 48, 7, 48)):
    rng = np.random.default_rng(seed)
    scale = np.array([0.2, 0.2, 0.2, 0.2, 3.0, 1.0, 5.0, 0.5])  # quaternion parts beside metres, as 3DBall's
    return [(rng.normal(size=(n, 8)) * scale + 1.5).astype(np.float32) for n in sizes]


def test_batched_statistics_equal_rllibs_row_by_row():
    ours, theirs = RLlibFilter((8,)), RLlibFilter((8,))
    for rows in batches():
        out = normalise_rows(ours, rows)
        for row in rows:
            last = theirs(row)
        np.testing.assert_allclose(out[-1], last, rtol=1e-5, atol=1e-5)  # the last row: the same statistics
        assert out.dtype == rows.dtype and out.shape == rows.shape
    for a, b in ((ours.running_stats, theirs.running_stats), (ours.buffer, theirs.buffer)):
        assert (a.n, a.num_pushes_delta) == (b.n, b.num_pushes_delta) == (152, 152)
        np.testing.assert_allclose(a.mean, b.mean, rtol=1e-9)
        np.testing.assert_allclose(a.std, b.std, rtol=1e-5)
        np.testing.assert_allclose(a.mean_delta_array, b.mean_delta_array, rtol=1e-9)
        np.testing.assert_allclose(a.sum_sq_diff_delta_array, b.sum_sq_diff_delta_array, rtol=1e-6)


def test_env_runners_statistics_merge_as_rllibs():
    """Two env runners' filters merged into the driver's (apply_changes, as RLlib syncs them)."""
    merged = {}
    for name, push in (("ours", lambda f, rows: normalise_rows(f, rows)),
                       ("rllib", lambda f, rows: [f(r) for r in rows])):
        driver, runners = RLlibFilter((8,)), [RLlibFilter((8,)), RLlibFilter((8,))]
        for seed, runner in enumerate(runners):
            for rows in batches(seed):
                push(runner, rows)
            driver.apply_changes(runner, with_buffer=False)
        merged[name] = driver.running_stats
    assert merged["ours"].n == merged["rllib"].n
    np.testing.assert_allclose(merged["ours"].mean, merged["rllib"].mean, rtol=1e-9)
    np.testing.assert_allclose(merged["ours"].std, merged["rllib"].std, rtol=1e-5)


def test_no_update_and_clip():
    flt = RLlibFilter((8,), clip=1.0)
    normalise_rows(flt, batches()[1])
    before = flt.running_stats.copy()
    out = normalise_rows(flt, batches(1)[1] * 100, update=False)
    assert flt.running_stats.n == before.n and np.array_equal(flt.running_stats.mean, before.mean)
    assert np.abs(out).max() <= 1.0


def episodes_at(rows, ids=None):
    """Single-agent episodes at their first observation, or (``ids``) one multi-agent episode of them."""
    if ids is None:
        eps = [SingleAgentEpisode(observation_space=SPACE) for _ in rows]
        for ep, row in zip(eps, rows):
            ep.add_env_reset(observation=row.copy())
        return eps, eps
    multi = MultiAgentEpisode(observation_space=gym.spaces.Dict({i: SPACE for i in ids}))
    multi.add_env_reset(observations={i: row.copy() for i, row in zip(ids, rows)})
    return [multi], [multi.agent_episodes[i] for i in ids]


@pytest.mark.parametrize("per_behavior", [False, True])
def test_the_connector_normalises_every_episode(per_behavior):
    space = gym.spaces.Dict({"Ball#0.0": SPACE, "Ball#1.0": SPACE}) if per_behavior else SPACE
    ours = MeanStdFilter(per_behavior=per_behavior)
    ours.input_observation_space = space  # as RLlib's pipeline sets it
    reference = RLlibFilter((8,))
    for rows in batches(sizes=(2, 2, 2)):
        given, agents = episodes_at(rows, ["Ball#0.0", "Ball#1.0"] if per_behavior else None)
        ours(rl_module=None, batch={}, episodes=given)
        expected = normalise_rows(reference, rows)
        got = np.stack([e.get_observations(indices=-1) for e in agents])
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    state = ours.get_state()
    key = "Ball" if per_behavior else None
    assert list(state) == [key] and state[key]["running_stats"][0]["num_pushes"] == 6

