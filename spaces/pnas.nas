# PNAS (Liu, Zoph, Neumann, Shlens, Hua, Li, Fei-Fei, Yuille, Huang & Murphy, "Progressive Neural
# Architecture Search", ECCV 2018), the cell space as NNI's hub (nasnet.py, after NDS) defines
# it: 5 nodes per cell, each summing 2 ops; each op reads one earlier tensor and is one of 8
# operations. Unlike NASNet, ENAS and AmoebaNet, a PNAS cell concatenates all its nodes (as the
# paper and NDS do), so every cell is 5c wide. All normal cells share one architecture, all
# reduction cells another (labels normal.op_2_0 ... reduce.input_6_1: NNI's with "." for "/").
# (The paper searches one cell type with reduction by stride; NDS and NNI search two, as here.)
# Differs from NNI's PNAS(): NNI also searches the width (16, 24, 32) and the number of cells
# (4, 8, 12, 16, 20), 15 times as many architectures; the paper searches the cell only, so C and
# layers are parameters here (NNI with int width and num_cells is this space, decision for
# decision). Skeleton: quark0/darts NetworkCIFAR (spaces/nds_ops.nas); NNI's "cifar" NDS is the same.
param C = 36       # initial channels
param layers = 20  # cells; reduction cells at layers // 3 and 2 * layers // 3
param num_classes = 10
param in_channels = 3    # image channels
param resolution = 32    # image height and width
param auxiliary = false  # auxiliary head after the second reduction (training only)

import "nds_ops.nas"

block PNASOp(c, stride) = choice {
  sep_conv_3x3: SepConv(c, c, 3, stride, 1),
  sep_conv_5x5: SepConv(c, c, 5, stride, 2),
  sep_conv_7x7: SepConv(c, c, 7, stride, 3),
  conv_7x1_1x7: FactorizedConv(c, 7, stride),
  skip_connect: Skip(c, stride),
  avg_pool_3x3: AvgPool(3, stride),
  max_pool_3x3: MaxPool(3, stride),
  dil_conv_3x3: DilConv(c, c, 3, stride, 2, 2),
}

network(x: [in_channels, resolution, resolution]) {
  return NetworkCIFAR(PNASOp, 5, "all", C, layers, num_classes, auxiliary, in_channels)(x)
}
