"""Text forms researchers already use, converted to and from architectures, apart from the
compiler: NAS-Bench-201 strings (`nb201`), DARTS genotypes (`genotype`) and NAS-Bench-101
specs (`nb101`). This package re-exports the first two, and `arch_text` shows an
architecture in the first of these forms its space has.

Example::

    >>> space = nasdsl.load("nasbench201")
    >>> arch = nb201_to_arch(space, "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    >>> arch_to_nb201(space, arch)
    '|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|'
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..arch import arch_key
from ..errors import NasError
from .genotype import arch_to_genotype, genotype_to_arch, is_genotype, parse_genotype
from .nb201 import arch_to_nb201, is_nb201_string, nb201_to_arch

__all__ = ["is_nb201_string", "nb201_to_arch", "arch_to_nb201",
           "is_genotype", "parse_genotype", "genotype_to_arch", "arch_to_genotype", "arch_text"]


def arch_text(space, arch: Mapping[str, Any]) -> str:
    """The NB201 string or DARTS genotype of `arch` where the space has one, else its JSON key.

    Example::

        >>> space = nasdsl.load("nasbench201")
        >>> arch_text(space, nb201_to_arch(space, "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|"))
        '|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|'
        >>> arch_text(nasdsl.loads('network(x: [4]) = x -> choice "act" { a: ReLU(), b: Tanh() }'), {"act": "a"})
        '{"act":"a"}'
    """
    for convert in (arch_to_nb201, arch_to_genotype):
        try:
            return convert(space, arch)
        except NasError:
            continue
    return arch_key(arch)
