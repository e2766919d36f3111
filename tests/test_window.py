"""The moving window behind every "mean return over the last N episodes" (no Ray needed)."""

import numpy as np
import pytest

from unity_nb.train import ConfigError, TrainConfig, make_config
from unity_nb.trainer.window import EpisodeWindow, iteration_stats


def test_window_holds_exactly_the_last_n_episodes_across_iterations():
    window = EpisodeWindow(100)
    rng = np.random.default_rng(0)
    seen = []
    for size in (1, 0, 37, 250, 3, 1):  # iterations with one episode, none, many
        batch = rng.normal(size=size).round(3).tolist()
        window.add(("", r, 5) for r in batch)
        seen += batch
        stats = window.stats()
        last = seen[-100:]
        if not seen:
            assert stats["episode_return_mean"] is None and stats["episodes_window"] == 0
            continue
        assert stats["episodes_window"] == len(last) and stats["episodes"] == len(seen)
        assert stats["episode_return_mean"] == pytest.approx(np.mean(last), abs=1e-6)
        assert stats["episode_return_min"] == pytest.approx(min(last)) and stats["episode_return_max"] == pytest.approx(max(last))
    # one episode in an iteration does not make min = max = mean: the window still holds 100
    window.add([("", 100.0, 1000)])
    stats = window.stats()
    assert stats["episodes_window"] == 100 and stats["episode_return_min"] < stats["episode_return_max"]


def test_reached_needs_a_full_window_and_every_behavior():
    window = EpisodeWindow(10)
    window.add(("", 1.0, 1) for _ in range(9))
    assert not window.reached(0.9)  # 9 great episodes are not 10
    window.add([("", 1.0, 1)])
    assert window.reached(0.9) and not window.reached(1.1)
    duo = EpisodeWindow(4)
    duo.add([("B", 0.0, 1)] * 2 + [("B", 1.0, 1)] * 2 + [("A", 1.0, 1)] * 4)
    assert duo.stats(["A", "B"])["episode_return_mean/B"] == 0.5
    assert not duo.reached(0.9, ["A", "B"]) and duo.reached(0.9, ["A"])


def test_window_survives_a_resume_and_a_new_size():
    window = EpisodeWindow(5)
    window.add(("X", float(i), i) for i in range(8))
    again = EpisodeWindow.from_state(window.state(), 5)
    assert again.stats(["X"]) == window.stats(["X"])
    smaller = EpisodeWindow.from_state(window.state(), 3)
    assert list(smaller.returns) == [5.0, 6.0, 7.0] and smaller.total == 8
    assert EpisodeWindow.from_state(None, 4).stats()["episodes"] == 0


def test_iteration_statistics_are_their_own():
    assert iteration_stats([])["iteration_return_mean"] is None
    stats = iteration_stats([1.0, 2.0, 4.0])
    assert stats["iteration_episodes"] == 3 and stats["iteration_return_max"] == 4.0
    assert stats["iteration_returns"] == [1.0, 2.0, 4.0]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "100"])
def test_window_size_must_be_a_whole_number(bad):
    with pytest.raises(ValueError, match="at least 1 episode"):
        EpisodeWindow(bad)
    with pytest.raises(ConfigError, match="return_window must be"):
        TrainConfig.from_dict({"return_window": bad})


def test_target_off_and_confirmation_settings():
    for off in ("off", "OFF", False):
        config = make_config("Basic", target_return=off)
        assert config.target_return == "off" and config.target is None
    assert TrainConfig.from_yaml("target_return: off").target_return == "off"  # YAML reads off as false
    assert make_config("Basic").target == 0.9 and make_config("Basic", target_return="0.5").target == 0.5
    with pytest.raises(ConfigError, match="target_return must be a number or 'off', got 'soon'"):
        make_config("Basic", target_return="soon")
    with pytest.raises(ConfigError, match="confirm_episodes must be >= 1 when a target_return is set"):
        make_config("Basic", confirm_episodes=0)  # Basic's own target
    assert make_config("Basic", confirm_episodes=0, target_return="off").confirm_episodes == 0
    with pytest.raises(ConfigError, match="confirm_episodes must be >= 0, got -3"):
        make_config("Basic", confirm_episodes=-3)


def test_confirm_plays_both_ways_by_default_and_says_so():
    config = make_config("3DBall")
    assert config.confirm == "both" and config.confirm_plays == ("deterministic", "sampled")
    assert "confirmed by 100 episodes played deterministic and sampled" in config.describe()
    assert make_config("Basic", confirm="sampled").confirm_plays == ("sampled",)
    assert TrainConfig.from_yaml("confirm: deterministic").confirm_plays == ("deterministic",)
    for bad in ("greedy", "", None, 1, ["both"]):
        with pytest.raises(ConfigError, match="confirm must be one of deterministic, sampled, both"):
            TrainConfig.from_dict({"confirm": bad})


def test_seed_minus_one_draws_a_seed_the_run_keeps():
    drawn = {make_config("Basic", seed=-1).seed for _ in range(5)}
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in drawn) and len(drawn) > 1
    config = make_config("Basic", seed=-1)
    assert f"seed {config.seed}" in config.describe()  # printed before the run starts: it can be repeated
    assert config.resolved().seed == config.seed  # drawn once
    for bad, message in ((-2, "seed must be >= 0, or -1 to draw one"), (1.5, "seed must be a whole number"),
                         ("7", "seed must be a whole number"), (True, "seed must be a whole number")):
        with pytest.raises(ConfigError, match=message):
            make_config("Basic", seed=bad)


def test_a_unity_build_gets_generic_defaults(tmp_path):
    build = tmp_path / "MyGame.x86_64"
    build.write_text("")
    config = make_config(str(build))
    assert config.scene_name is None and config.num_areas == 1 and config.target is None
    assert (config.train_batch_size, config.minibatch_size, config.hidden_units) == (10240, 1024, 128)


def test_episodes_as_rllib_hands_them_over():
    """RLlib's item series arrives as a list, as one bare item when a single episode ended, or as NaN."""
    from unity_nb.trainer.driver import _episodes

    one = ("", 1.5, 7)
    assert _episodes([one, one]) == [one, one] and _episodes(one) == [one]
    assert _episodes(None) == [] and _episodes(float("nan")) == [] and _episodes([]) == []
