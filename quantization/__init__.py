"""Fixed-point semantics (``fixed.py``: ``FixedType``, the one ap_fixed implementation), QKeras
quantization specs, pruning and the bit-width scan."""
