"""unity-nb: Unity ML-Agents reinforcement learning from Jupyter notebooks.

Importing it makes the real ``mlagents_envs`` client load on modern protobuf
(see ``unity_nb.envs._protobuf_compat``); import it before ``mlagents_envs``.
"""

__version__ = "0.1.0"

import os as _os  # noqa: E402

# gRPC's C core logs every closed connection at INFO level; players open and close many.
# Set before grpc is first imported (by unity_nb.envs below).
_os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from .envs import _protobuf_compat as _compat  # noqa: E402

_compat.install()
