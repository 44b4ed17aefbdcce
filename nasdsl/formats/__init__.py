"""Text forms researchers already use, converted to and from architectures, apart from the
compiler: NAS-Bench-201 strings (`nb201`), DARTS genotypes (`genotype`) and NAS-Bench-101
specs (`nb101`). This package re-exports the first two.

Example::

    >>> space = nasdsl.load("nasbench201")
    >>> arch = nb201_to_arch(space, "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    >>> arch_to_nb201(space, arch)
    '|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|'
"""
from __future__ import annotations

from .genotype import arch_to_genotype, genotype_to_arch, is_genotype, parse_genotype
from .nb201 import arch_to_nb201, is_nb201_string, nb201_to_arch

__all__ = ["is_nb201_string", "nb201_to_arch", "arch_to_nb201",
           "is_genotype", "parse_genotype", "genotype_to_arch", "arch_to_genotype"]
