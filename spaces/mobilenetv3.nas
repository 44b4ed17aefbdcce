# The MobileNetV3 search space of TuNAS (Bender et al., "Can Weight Sharing Outperform Random
# Architecture Search?", CVPR 2020), the largest one, as NNI's hub builds it
# (MobileNetV3Space). A stem, a depthwise-separable block (stage 0), five stages of 1-4
# MBConv blocks, a 1x1 conv, pooling, a 1x1 conv with bias, the classifier. Searched: a width
# multiplier per stage (the stem shares stage 0's), the stem kernel (3, 5), every block's
# kernel (3, 5, 7) and expansion (1-6), the depth of stages 1-5, and SE on or off per block of
# stages 2, 4 and 5. MobileNetV3-Large is an architecture of it under other params (tested).
#
# Labels (NNI's in brackets): width_mult.0-7 [s0_width_mult-s7_width_mult], stem.k
# [stem_ks], s0.k [s0_i0_ks], s1.depth [s1_depth], s1.0.k [s1_i0_ks], s1.0.e [s1_i0_exp],
# s2.0.se [s2_i0_se] ... s5.3.se.
#
# Size: NNI 3.0 reports 1.85e39 = 7^8 * 2 * 3 * (4 * 18^4)^2 * (4 * 36^4)^3, the product of
# all 67 domains (ours give the same product), as if every block always existed. Ours is
# exact: a block's kernel, expansion and SE exist only when its stage is deep enough, so a
# stage with b choices per block contributes b + b^2 + b^3 + b^4, not 4 * b^4:
# 7^8 * 6 * (18 + ... + 18^4)^2 * (36 + ... + 36^4)^3 = 2.20e36 architectures.
# Residuals as NNI's: in blocks 1-3 of a stage only (not in stage 0, not in a block 0).
import "mobile_ops.nas"

param num_classes = 1000
param resolution = 224                                         # input height and width
param in_channels = 3                                          # image channels
param base_widths = [16, 16, 16, 32, 64, 128, 256, 512, 1024]  # stem, stages 0-5, head (2)
param width_mults = [0.5, 0.625, 0.75, 1.0, 1.25, 1.5, 2.0]
param expand_ratios = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
param depths = [1, 2, 3, 4]                                              # of stages 1-5
param se = ["none", "none", "optional", "none", "optional", "optional"]  # stages 0-5
param stride = [2, 1, 2, 2, 2, 1, 2, 1, 1]
param acts = ["hswish", "relu", "relu", "relu", "hswish", "hswish", "hswish", "hswish", "hswish"]
param dropout = 0.2

# Block i of a stage of 1-5, with its own kernel k and expansion e; block 0 strides and
# changes the width, the others keep it and add a residual.
block Block(
  i,
  c_in,
  c_out,
  stride,
  act,
  se,
  k=choice[3, 5, 7],
  e=choice[expand_ratios],
) = InvertedResidual(c_out if i else c_in, c_out, k, e, 1 if i else stride, act, se, i > 0)

block Stage(c_in, c_out, stride, act, se) = repeat(
  choice[depths],
  lambda i: Block(i, c_in, c_out, stride, act, se),
)

network(image: [in_channels, resolution, resolution]) {
  div8 = lambda v: max(8, round(v + 4) // 8 * 8)
  make_div = lambda v: div8(v) + 8 if div8(v) < 0.9 * v else div8(v)
  act = lambda a: Hardswish if a == "hswish" else SiLU if a == "swish" else ReLU
  w = []  # w[i]: base_widths[i] times its stage's multiplier, rounded
  for s in range(8) {
    width_mult = choice[width_mults]
    stem_width = [make_div(width_mult * base_widths[0])] if s == 0 else []
    w = w + stem_width + [make_div(width_mult * base_widths[s + 1])]
  }
  stem = image -> ConvBNAct(in_channels, w[0], choice[3, 5], stride[0], act=act(acts[0]))
  s0 = stem -> DepthwiseSeparable(w[0], w[1], choice[3, 5, 7], stride[1], act(acts[1]), se[0])
  s1 = s0 -> Stage(w[1], w[2], stride[2], act(acts[2]), se[1])
  s2 = s1 -> Stage(w[2], w[3], stride[3], act(acts[3]), se[2])
  s3 = s2 -> Stage(w[3], w[4], stride[4], act(acts[4]), se[3])
  s4 = s3 -> Stage(w[4], w[5], stride[5], act(acts[5]), se[4])
  s5 = s4 -> Stage(w[5], w[6], stride[6], act(acts[6]), se[5])
  head = s5 -> ConvBNAct(w[6], w[7], 1, stride[7], act=act(acts[7])) -> AdaptiveAvgPool2d(1)
    -> Conv2d(w[7], w[8], 1, stride[8]) -> act(acts[8])()
  classifier = head -> Flatten() -> Dropout(dropout) -> Linear(w[8], num_classes)
  return classifier
}
