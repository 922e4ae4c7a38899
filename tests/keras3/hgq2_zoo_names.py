"""The zoo's model names and known hls4ml differences, read from hgq2_zoo.py without
importing Keras (that module runs in the Keras 3 environment)."""

import ast
from pathlib import Path

_TREE = ast.parse((Path(__file__).parent / "hgq2_zoo.py").read_text())
_CONSTS = {node.targets[0].id: node.value.value for node in _TREE.body
           if isinstance(node, ast.Assign) and len(node.targets) == 1
           and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Constant)
           and isinstance(node.value.value, str)}
_MODELS = next(node.value for node in _TREE.body if isinstance(node, ast.Assign)
               and getattr(node.targets[0], "id", None) == "MODELS")


def _reason(node):
    if isinstance(node, ast.Constant):
        return node.value
    return _CONSTS[node.id]


#: name -> None where da4ml == C-sim is expected, else the known hls4ml difference
KNOWN = {key.value: _reason(value.elts[-1]) for key, value in zip(_MODELS.keys, _MODELS.values,
                                                                   strict=True)}
NAMES = sorted(KNOWN)

#: kinds only the Keras 3 / HGQ2 front end produces (the QKeras graph zoo cannot): the HGQ2
#: zoo's coverage test requires them
HGQ2_ONLY_KINDS = ("fixed_quantizer", "einsum_dense")
