"""Where an environment's agents come from: a built-in scene in-process, or a Unity process.

``EnvSource`` hides the difference for the gymnasium and multi-agent
wrappers: it (re)opens the mlagents ``BaseEnv`` (again with a new seed when
asked), passes scene parameters on, renders frames, and turns a crashed
player into ``UnityPlayerDied``.
"""

from __future__ import annotations

import io
import os

import numpy as np

from . import _protobuf_compat

_protobuf_compat.install()

from mlagents_envs.exception import UnityCommunicatorStoppedException, UnityException  # noqa: E402
from mlagents_envs.side_channel import IncomingMessage, OutgoingMessage, SideChannel  # noqa: E402

from .agents import check_unique_ids  # noqa: E402
from .builds import EDITOR, player_file  # noqa: E402
from .inprocess import InProcessEnv  # noqa: E402
from .protocol import RENDER_CHANNEL  # noqa: E402
from .scenes import SCENES, is_builtin, scene_class  # noqa: E402
from . import samplers  # noqa: E402
from ..errors import BadValue, NotPossible  # noqa: E402
from .unity import UnityConnection  # noqa: E402

MODES = ("player", "inprocess")


class RenderChannel(SideChannel):
    """Asks the stand-in player for a rendered frame with every step (a kit extension)."""

    def __init__(self):
        super().__init__(RENDER_CHANNEL)
        self.frame: bytes | None = None

    def enable(self, on: bool = True) -> None:
        msg = OutgoingMessage()
        msg.write_bool(on)
        self.queue_message_to_send(msg)

    def on_message_received(self, msg: IncomingMessage) -> None:
        self.frame = msg.get_raw_bytes()


class EnvSource:
    """Opens and re-opens the BaseEnv behind a wrapper."""

    def __init__(
        self,
        target: str,
        *,
        mode: str = "player",
        seed: int = 0,
        num_areas: int = 1,
        params: dict | None = None,  # name -> a number or a sampler (samplers.py)
        render: bool = False,
        **unity_kwargs,
    ):
        if isinstance(target, os.PathLike):
            target = os.fspath(target)
        if not isinstance(target, str) or not target.strip():
            raise BadValue(
                f"scene_or_path must be a built-in scene ({', '.join(SCENES)}), a path to a Unity build, "
                f"or 'editor'; got {target!r}"
            )
        if mode not in MODES:
            raise BadValue(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        builtin = is_builtin(target)
        if mode == "inprocess" and not builtin:
            raise BadValue(f"mode='inprocess' runs built-in scenes only ({', '.join(SCENES)}); {target!r} is not one")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise BadValue(f"seed must be an integer, got {seed!r}")
        self.target = target
        self.mode = mode
        self.builtin = builtin
        if builtin:
            scene_class(target)(num_areas=num_areas)  # validates num_areas now (and the params below)
        self.name = scene_class(target).name if builtin else ("Unity Editor" if target == EDITOR else str(target))
        self.num_areas = num_areas
        self.params = {key: self._checked(key, value) for key, value in (params or {}).items()}
        self.render_enabled = render
        self.unity_kwargs = unity_kwargs
        self.connection: UnityConnection | None = None
        self.render_channel: RenderChannel | None = None
        self.base = self.open(seed)

    def open(self, seed: int):
        """(Re)start the environment with ``seed``; returns the mlagents BaseEnv."""
        self.close()
        self.seed = int(seed)
        if self.mode == "inprocess":
            self.base = InProcessEnv(self.target, seed=self.seed, num_areas=self.num_areas, params=self.params)
            return self.base
        path = player_file(self.target) if self.builtin else self.target
        self.render_channel = RenderChannel() if self.builtin and self.render_enabled else None
        if self.render_channel is not None:
            self.render_channel.enable()
        self.connection = UnityConnection(
            EDITOR if self.target == EDITOR else path,
            seed=self.seed,
            num_areas=self.num_areas,
            params=self.params,
            side_channels=[self.render_channel] if self.render_channel else [],
            **self.unity_kwargs,
        )
        self.base = self.connection.env
        return self.base

    def _checked(self, key: str, value):
        """A parameter's value checked (a built-in scene's own checks; a sampler's edges too): a float or a
        parsed sampler."""
        if not samplers.is_sampler(value):
            if self.builtin:
                scene_class(self.target)(params={key: value})  # same checks as the scene itself
            return float(value)
        spec = samplers.parse(value, f"parameter {key!r}")
        if self.builtin:
            cls = scene_class(self.target)
            if key not in cls.default_params:
                cls(params={key: 0.0})  # the scene's own refusal, naming its parameters
            for name, edge in samplers.bounds(spec):
                try:
                    cls(params={key: edge})
                except ValueError as err:
                    raise BadValue(f"parameter {key!r}: sampler_parameters.{name}: {err}") from None
        return spec

    def set_param(self, key: str, value) -> None:
        """Change a scene parameter: a number, or a sampler (``{"sampler_type": "uniform", "sampler_parameters":
        {"min_value": 1, "max_value": 2}}``, see ``samplers.py``) drawn again at each episode start, with the
        sampler's own seed or else this source's. It applies from each agent's next episode."""
        value = self._checked(key, value)
        self.params[key] = value
        if self.mode == "inprocess":
            self.base.set_param(key, value)
        else:
            samplers.send(self.connection.params, key, value, self.seed)

    def call(self, method: str, *args):
        """Call the BaseEnv, turning a dead Unity process into UnityPlayerDied."""
        if self.base is None:
            raise NotPossible(f"the {self.name} environment is closed; make a new one")
        try:
            result = getattr(self.base, method)(*args)
        except (UnityException, UnityCommunicatorStoppedException) as err:
            if self.connection is None:
                raise
            raise self.connection.player_died(err, f"during {method}()") from None
        if method in ("step", "reset"):
            for behavior in self.base.behavior_specs:
                check_unique_ids(self.name, behavior, *self.base.get_steps(behavior))
        return result

    def frame(self) -> np.ndarray | None:
        """The latest rendered frame (RGB uint8), if this source can render."""
        if self.mode == "inprocess":
            return self.base.scene.render()
        if self.render_channel is not None and self.render_channel.frame:
            from PIL import Image

            return np.asarray(Image.open(io.BytesIO(self.render_channel.frame)).convert("RGB"))
        return None

    def close(self) -> None:
        """Stop the Unity process (if any); safe to call twice."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        elif getattr(self, "base", None) is not None:
            self.base.close()
        self.base = None
