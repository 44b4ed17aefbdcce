"""NNI 3.0's side of tests/test_darts_cell.py (runs in NNI's own venv, not collected):
one DARTS cell under NNI's DARTS strategy (`DifferentiableMixedCell`), its weights, inputs
and architecture parameters filled by `tests/darts_cell_case.py`'s rule, and what it computes:
the output, the gradient of a fixed linear loss with respect to every edge's alpha, and the
exported genotype. Prints JSON.

    /tmp/nni-venv/bin/python tests/nni_hub/_nni_cell.py > tests/data/nni_darts_cell.json
"""
from __future__ import annotations

import json
import logging
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore")

import torch  # noqa: E402
from darts_cell_case import CASE, alpha_of, inputs, loss_weights, ops, weights_of  # noqa: E402
from nni.nas.nn.pytorch import Cell, ModelSpace  # noqa: E402
from nni.nas.oneshot.pytorch.strategy import DARTS  # noqa: E402
from nni.nas.oneshot.pytorch.supermodule.differentiable import DifferentiableMixedCell  # noqa: E402


class Space(ModelSpace):
    def __init__(self):
        super().__init__()
        c = CASE["C"]
        factory = {name: (lambda node_index, op_index, input_index, name=name: ops(torch.nn, c)[name])
                   for name in CASE["ops"]}
        self.cell = Cell(factory, CASE["nodes"], CASE["ops_per_node"], CASE["predecessors"], "all",
                         label=CASE["label"])

    def forward(self, *xs):
        return self.cell(list(xs))


def main() -> None:
    logging.getLogger("nni").setLevel(logging.WARNING)   # NNI logs its export to stdout
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    net = DARTS().mutate_model(Space())
    cell = next(m for m in net.modules() if isinstance(m, DifferentiableMixedCell))
    npred = CASE["predecessors"]
    with torch.no_grad():
        for i in range(npred, npred + CASE["nodes"]):
            for j in range(i):
                for name in CASE["ops"]:
                    for k, p in enumerate(cell.ops[i - npred][j][name].parameters()):
                        p.copy_(weights_of(i, j, name, k, p.shape))
                cell._arch_alpha[f"{CASE['label']}/{i}_{j}"].copy_(alpha_of(i, j))
    xs = inputs()
    out = net(*xs)
    (out * loss_weights(out.shape)).sum().backward()
    grads = {f"{i}_{j}": cell._arch_alpha[f"{CASE['label']}/{i}_{j}"].grad.tolist()
             for i in range(npred, npred + CASE["nodes"]) for j in range(i)}
    exported = {k.replace("/", "."): (v[0] if isinstance(v, list) else v) for k, v in cell.export({}).items()}
    json.dump({"case": CASE, "output": out.detach().flatten().tolist(), "shape": list(out.shape),
               "alpha_grad": grads, "genotype": exported, "arch_params": sum(a.numel() for a in cell._arch_alpha.values())},
              sys.stdout)


if __name__ == "__main__":
    main()
