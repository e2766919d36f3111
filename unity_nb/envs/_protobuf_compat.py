"""Let mlagents-envs 0.28's generated protobuf modules load under modern protobuf.

mlagents-envs 0.28.0 ships ``*_pb2.py`` files made by an old protoc: they build
descriptors by hand (``_descriptor.FieldDescriptor(...)``), which protobuf >= 4
refuses ("Descriptors cannot be created directly"). Each file also carries its
whole serialized ``FileDescriptorProto`` (``serialized_pb=``). This import hook
intercepts those modules and builds the same messages from that blob with
``google.protobuf.internal.builder``, exactly as a modern protoc's output does.
Nothing is pinned and the fast upb backend stays in use.

The hook must be installed before ``mlagents_envs`` is first imported;
``import unity_nb`` does that.
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

_PACKAGE = "mlagents_envs.communicator_objects."


def _serialized_descriptor(tree: ast.Module, path: str) -> bytes:
    """Return the ``serialized_pb=`` bytes of an old generated module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "serialized_pb":
            value = node.value
            # Old protoc writes serialized_pb=_b('...'), _b being str.encode('latin1').
            if isinstance(value, ast.Call) and value.args:
                value = value.args[0]
            literal = ast.literal_eval(value)
            return literal.encode("latin1") if isinstance(literal, str) else literal
    raise ImportError(f"{path}: no serialized_pb= descriptor found; not an old-style *_pb2 module")


def _dependency_imports(tree: ast.Module) -> list[ast.stmt]:
    """The module's own imports of other generated modules (they must load first)."""
    return [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mlagents_envs")
    ]


class _OldPb2Loader(importlib.abc.Loader):
    def __init__(self, origin: str):
        self.origin = origin

    def create_module(self, spec):  # default module creation
        return None

    def exec_module(self, module: ModuleType) -> None:
        from google.protobuf import descriptor_pool
        from google.protobuf.internal import builder

        with open(self.origin, encoding="utf-8") as f:
            source = f.read()
        tree = ast.parse(source, self.origin)
        namespace = module.__dict__
        deps = ast.Module(body=_dependency_imports(tree), type_ignores=[])
        exec(compile(deps, self.origin, "exec"), namespace)
        serialized = _serialized_descriptor(tree, self.origin)
        pool = descriptor_pool.Default()
        try:
            descriptor = pool.AddSerializedFile(serialized)
        except TypeError:
            # Already in the pool (module re-imported after deletion from sys.modules).
            from google.protobuf import descriptor_pb2

            name = descriptor_pb2.FileDescriptorProto.FromString(serialized).name
            descriptor = pool.FindFileByName(name)
        namespace["DESCRIPTOR"] = descriptor
        builder.BuildMessageAndEnumDescriptors(descriptor, namespace)
        builder.BuildTopDescriptorsAndMessages(descriptor, module.__name__, namespace)


class _OldPb2Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if not (fullname.startswith(_PACKAGE) and fullname.endswith("_pb2")):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            return None
        with open(spec.origin, encoding="utf-8") as f:
            if "serialized_pb=" not in f.read():
                return None  # a modern generated module: leave it alone
        return importlib.util.spec_from_file_location(
            fullname, spec.origin, loader=_OldPb2Loader(spec.origin)
        )


def install() -> None:
    """Install the hook (idempotent). Raises if the old modules were already imported broken."""
    if not any(isinstance(f, _OldPb2Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _OldPb2Finder())
