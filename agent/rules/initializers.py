"""Keras initializer names → torch ``nn.init`` statements (``{w}`` is the tensor).

Torch's own defaults differ from Keras's (kaiming_uniform(a=√5) vs glorot_uniform, uniform
biases vs zeros), so converted layers re-initialise explicitly to train like the original.
"""

from __future__ import annotations

from typing import Any

from agent.rules.spec import Args, Unsupported

INITIALIZERS: dict[str, str] = {
    "glorot_uniform": "nn.init.xavier_uniform_({w})",
    "glorot_normal": "nn.init.xavier_normal_({w})",
    "he_uniform": 'nn.init.kaiming_uniform_({w}, nonlinearity="relu")',
    "he_normal": 'nn.init.kaiming_normal_({w}, nonlinearity="relu")',
    "lecun_uniform": 'nn.init.kaiming_uniform_({w}, nonlinearity="linear")',
    "lecun_normal": 'nn.init.kaiming_normal_({w}, nonlinearity="linear")',
    "zeros": "nn.init.zeros_({w})",
    "ones": "nn.init.ones_({w})",
    "orthogonal": "nn.init.orthogonal_({w})",
    "random_normal": "nn.init.normal_({w}, std=0.05)",
    "random_uniform": "nn.init.uniform_({w}, -0.05, 0.05)",
    "truncated_normal": "nn.init.trunc_normal_({w}, std=0.05, a=-0.1, b=0.1)",
    "identity": "nn.init.eye_({w})",
    # Keras 2 spellings
    "uniform": "nn.init.uniform_({w}, -0.05, 0.05)",
    "normal": "nn.init.normal_({w}, std=0.05)",
    "zero": "nn.init.zeros_({w})",
    "one": "nn.init.ones_({w})",
}

# Keras's normal variants are truncated at 2σ with a rescaled σ; torch's are not.
INITIALIZER_WARNINGS: dict[str, str] = {
    "glorot_normal": "glorot_normal is a truncated normal in Keras; xavier_normal_ is not",
    "he_normal": "he_normal is a truncated normal in Keras; kaiming_normal_ is not",
    "lecun_normal": "lecun_normal is a truncated normal in Keras; kaiming_normal_ is not",
}

_CLASS_NAMES = {
    "GlorotUniform": "glorot_uniform", "GlorotNormal": "glorot_normal",
    "HeUniform": "he_uniform", "HeNormal": "he_normal", "LecunUniform": "lecun_uniform",
    "LecunNormal": "lecun_normal", "Zeros": "zeros", "Ones": "ones",
    "Orthogonal": "orthogonal", "RandomNormal": "random_normal",
    "RandomUniform": "random_uniform", "TruncatedNormal": "truncated_normal",
    "Identity": "identity",
}


def init_statement(args: Args, arg: str, target: str, warnings: list[str]) -> str:
    """The init statement for Keras argument ``arg`` (a name or a simple initializer call)."""
    name: str | None = None
    value: Any = None
    if args.has(arg) and not args.values[arg].known:
        code = args.code(arg)
        head = code.split("(")[0].split(".")[-1]
        name = _CLASS_NAMES.get(head)
        if name is None or "(" in code and not code.rstrip().endswith("()"):
            raise Unsupported(f"initializer {code} has no torch mapping")
    else:
        value = args.get(arg)
        name = value if isinstance(value, str) else None
    if name is None or name not in INITIALIZERS:
        raise Unsupported(f"initializer {value!r} has no torch mapping")
    if name in INITIALIZER_WARNINGS:
        warnings.append(INITIALIZER_WARNINGS[name])
    return INITIALIZERS[name].format(w=target)
