"""A trained policy as an ONNX file in Unity's ML-Agents model contract.

Drop the file onto a Behavior Parameters component's *Model* field (com.unity.ml-agents
3.x/4.x, Unity Inference Engine / Sentis). The graph holds, in order, what ML-Agents' own
exporter writes (``model_serialization.py``):

    inputs   obs_0 [batch, n] or [batch, C, H, W]  one per sensor, in the behavior's sensor order; a camera's
                                                   image channels first, values in [0, 1] (as ML-Agents exports)
             action_masks [batch, sum(branches)]   discrete actions only; 1 = allowed
    outputs  version_number [1] = 3, memory_size [1] = 0,
             continuous_actions, continuous_action_output_shape, deterministic_continuous_actions
             or discrete_actions, discrete_action_output_shape, deterministic_discrete_actions

Observation normalisation (RLlib's MeanStdFilter) is folded in; continuous actions leave
through ML-Agents' ``clamp(x, -3, 3) / 3``; sampled actions are drawn in the graph.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BadValue

CONTRACT_VERSION = 3  # "ML-Agents 2.0" model API; Unity accepts 2 and 3
OPSET = 9  # ML-Agents' own exporter uses 9; Unity's inference engine loads opsets 7-15
MASK_FILL = 1e8  # masked logits: logits * mask - 1e8 * (1 - mask), as ML-Agents' graph does
CONTINUOUS_CLIP = 3.0


class NotExportable(BadValue):
    """The policy cannot be expressed in Unity's model contract (the message says why)."""


@dataclass(frozen=True)
class Contract:
    """What an exported file promises Unity: its inputs and its action outputs."""

    observation_shapes: tuple[tuple[int, ...], ...]  # one per sensor as the sensor gives it (camera: H, W, C)
    continuous_size: int
    discrete_branches: tuple[int, ...]

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        """Each sensor's input without the batch axis: a camera's channels first (C, H, W), as Unity feeds it."""
        return [(s[2], s[0], s[1]) if len(s) == 3 else tuple(s) for s in self.observation_shapes]

    @property
    def input_names(self) -> list[str]:
        names = [f"obs_{i}" for i in range(len(self.observation_shapes))]
        return names + (["action_masks"] if self.discrete_branches else [])

    @property
    def output_names(self) -> list[str]:
        names = ["version_number", "memory_size"]
        if self.continuous_size:
            names += ["continuous_actions", "continuous_action_output_shape", "deterministic_continuous_actions"]
        if self.discrete_branches:
            names += ["discrete_actions", "discrete_action_output_shape", "deterministic_discrete_actions"]
        return names

    @classmethod
    def of_spaces(cls, observation_space, action_space) -> "Contract":
        """The contract of a policy with these gymnasium spaces (refused if Unity's contract cannot hold it)."""
        import gymnasium as gym

        from ..envs.spaces import ACTION_MASK, OBSERVATIONS

        if isinstance(observation_space, gym.spaces.Dict) and ACTION_MASK in observation_space.spaces:
            observation_space = observation_space[OBSERVATIONS]  # the mask becomes the action_masks input
        parts = list(observation_space.spaces) if isinstance(observation_space, gym.spaces.Tuple) else [observation_space]
        if not all(isinstance(p, gym.spaces.Box) and len(p.shape) in (1, 3) for p in parts):
            raise NotExportable(f"observations {observation_space}: Unity's model contract takes vectors and camera "
                                "images only")
        shapes = tuple(tuple(int(d) for d in p.shape) for p in parts)
        if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
            return cls(shapes, int(action_space.shape[0]), ())
        if isinstance(action_space, gym.spaces.Discrete):
            return cls(shapes, 0, (int(action_space.n),))
        if isinstance(action_space, gym.spaces.MultiDiscrete):
            return cls(shapes, 0, tuple(int(n) for n in action_space.nvec))
        raise NotExportable(f"actions {action_space} (continuous and discrete together) are not exported yet")


def _graph(policy, contract: Contract):
    """A torch module computing the contract's outputs from its inputs."""
    import torch

    module, normalizer = policy.module, policy.normalizer
    mean = std = clip = None
    if normalizer is not None:
        stats = normalizer.running_stats
        mean = torch.as_tensor(np.asarray(stats.mean, dtype=np.float32) if normalizer.demean else
                               np.zeros(contract.observation_shapes[0], np.float32))
        std = torch.as_tensor((np.asarray(stats.std, dtype=np.float32) + 1e-8) if normalizer.destd else
                              np.ones(contract.observation_shapes[0], np.float32))
        clip = float(normalizer.clip) if normalizer.clip else None
    squashed = not policy._raw_gaussian  # a SAC policy's actions are within [-1, 1] already

    class ContractGraph(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.module = module
            self.register_buffer("version_number", torch.tensor([float(CONTRACT_VERSION)]))
            self.register_buffer("memory_size", torch.tensor([0.0]))
            if mean is not None:
                self.register_buffer("obs_mean", mean)
                self.register_buffer("obs_std", std)
            if contract.continuous_size:
                self.register_buffer("continuous_shape", torch.tensor([float(contract.continuous_size)]))
            if contract.discrete_branches:
                self.register_buffer("discrete_shape", torch.tensor([[float(b) for b in contract.discrete_branches]]))

        def forward(self, *tensors):
            observations = list(tensors[:len(contract.observation_shapes)])
            action_masks = tensors[len(observations)] if contract.discrete_branches else None
            if hasattr(module, "policy_inputs"):  # the kit's camera/mask module: cameras back to channels last
                parts = [x.permute(0, 2, 3, 1) if x.dim() == 4 else x for x in observations]
                inputs = module.policy_inputs(parts, action_masks if module.masked else None)
            else:
                x = observations[0]
                if mean is not None:
                    x = (x - self.obs_mean) / self.obs_std
                    if clip is not None:
                        x = torch.clamp(x, -clip, clip)
                inputs = _action_dist_inputs(module, x)
            out = [self.version_number, self.memory_size]
            if contract.continuous_size:
                n = contract.continuous_size
                loc, log_std = inputs[:, :n], inputs[:, n:]
                sampled = loc + torch.randn_like(loc) * torch.exp(log_std)
                if squashed:  # SAC's squashed Gaussian: tanh, already within the action bounds
                    out += [torch.tanh(sampled), self.continuous_shape, torch.tanh(loc)]
                else:
                    out += [torch.clamp(sampled, -CONTINUOUS_CLIP, CONTINUOUS_CLIP) / CONTINUOUS_CLIP,
                            self.continuous_shape,
                            torch.clamp(loc, -CONTINUOUS_CLIP, CONTINUOUS_CLIP) / CONTINUOUS_CLIP]
            if contract.discrete_branches:
                sampled, greedy, start = [], [], 0
                for size in contract.discrete_branches:
                    logits = inputs[:, start:start + size]
                    mask = action_masks[:, start:start + size]
                    masked = logits * mask - MASK_FILL * (1.0 - mask)
                    probs = torch.softmax(masked, dim=1)
                    sampled.append(torch.multinomial(probs, 1))
                    greedy.append(torch.argmax(masked, dim=1, keepdim=True))
                    start += size
                out += [torch.cat(sampled, dim=1), self.discrete_shape, torch.cat(greedy, dim=1)]
            return tuple(out)

    return ContractGraph().eval()


def _action_dist_inputs(module, x):
    """The policy head's output for observations ``x``, traceable with a dynamic batch axis.

    RLlib's free-log-std head repeats its log-std ``len(batch)`` times, which a trace turns
    into a constant; here the log-std is broadcast against the mean instead (same values).
    """
    import torch
    from ray.rllib.core.models.base import ACTOR, ENCODER_OUT

    head = getattr(module, "pi", None)
    if head is None or not hasattr(head, "log_std") or not hasattr(module, "encoder"):
        return module.forward_inference({"obs": x})["action_dist_inputs"]
    mean = head.net(module.encoder({"obs": x})[ENCODER_OUT][ACTOR])
    log_std = head.log_std
    if head.clip_log_std:
        log_std = torch.clamp(log_std, -head.log_std_clip_param_const, head.log_std_clip_param_const)
    return torch.cat([mean, torch.zeros_like(mean) + log_std], dim=1)


def export_policy(policy, path: str | Path, observation_space=None) -> Contract:
    """Write ``policy`` (a ``unity_nb.evaluate.Policy``) to ``path`` as an ONNX file in Unity's contract."""
    import torch

    module = policy.module
    contract = Contract.of_spaces(observation_space or module.observation_space, module.action_space)
    if contract.continuous_size and contract.discrete_branches:
        raise NotExportable("hybrid actions are not exported yet")
    graph = _graph(policy, contract)
    batch = 2
    args = [torch.zeros((batch, *shape), dtype=torch.float32) for shape in contract.input_shapes]
    if contract.discrete_branches:
        args.append(torch.ones((batch, sum(contract.discrete_branches)), dtype=torch.float32))
    dynamic = {name: {0: "batch"} for name in contract.input_names}
    for name in contract.output_names:
        if name.endswith("_actions"):
            dynamic[name] = {0: "batch"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # the TorchScript exporter on purpose: Unity loads opsets 7-15, the newer exporter writes 18 and up
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(graph, tuple(args), str(path), dynamo=False, opset_version=OPSET,
                          input_names=contract.input_names, output_names=contract.output_names,
                          dynamic_axes=dynamic, do_constant_folding=True, external_data=False)
    return contract
