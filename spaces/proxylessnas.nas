# ProxylessNAS (Cai, Zhu & Han, "ProxylessNAS: Direct Neural Architecture Search on Target
# Task and Hardware", ICLR 2019), the mobile space. A MobileNetV2 skeleton: a 3x3 stem, a
# fixed depthwise-separable block, six stages of MBConv blocks, a 1x1 feature-mix conv. Every
# block picks its kernel (3, 5, 7) and expansion (3, 6): one of 6 MBConvs, k3e3 ... k7e6.
# The original gives every non-first block of a stage a Zero candidate too; with the block's
# residual, Zero is a skip, so a stage's network is fixed by how many blocks are kept. As in
# NNI's hub, stages 2-6 therefore choose a depth (1-4, the stride in block 0) and the last
# stage has one block: labels s2.depth, s2.0 ... s6.3, s7.0 (NNI: s2_depth, s2_i0, s7_i0).
#
# Size: NNI 3.0 reports 6^21 * 4^5 = 2.25e19, the product of all 26 domains as if every
# block always existed. Ours counts each depth with only the blocks it keeps,
# (6 + 6^2 + 6^3 + 6^4)^5 * 6 = 54,375,883,032,510,144 (5.44e16) distinct architectures.
#
# `proxyless_mobile` (the searched network, 4,080,512 parameters) and MobileNetV2 1.0
# (base_widths of MobileNetV2, every block k3e6, depths 2, 3, 4, 3, 3, 1: 3,504,872) are
# architectures of this space. Widths follow the original: base width * width_mult rounded
# to a multiple of 8, the feature-mix width 1280 unless width_mult > 1.
import "mobile_ops.nas"

param num_classes = 1000
param resolution = 224  # input height and width
param in_channels = 3   # image channels
param width_mult = 1.0
param base_widths = [32, 16, 32, 40, 80, 96, 192, 320, 1280]  # stem, blocks 1-7, feature mix
param dropout = 0.0

# MBConv with kernel k and expansion e, a residual where the shape is kept.
block MB(c_in, c_out, stride, k, e)(x) {
  y = x -> InvertedResidual(c_in, c_out, k, e, stride, skip=stride == 1 and c_in == c_out)
  return y
}

block MBConv(c_in, c_out, stride) = choice {
  k3e3: MB(c_in, c_out, stride, 3, 3),
  k5e3: MB(c_in, c_out, stride, 5, 3),
  k7e3: MB(c_in, c_out, stride, 7, 3),
  k3e6: MB(c_in, c_out, stride, 3, 6),
  k5e6: MB(c_in, c_out, stride, 5, 6),
  k7e6: MB(c_in, c_out, stride, 7, 6),
}

# `depth` blocks; only block 0 strides and changes the width.
block Stage(c_in, c_out, stride, depth=choice[1, 2, 3, 4]) = repeat(
  depth,
  lambda i: MBConv(c_out if i > 0 else c_in, c_out, stride if i == 0 else 1),
)

network(image: [in_channels, resolution, resolution]) {
  div8 = lambda v: max(8, int(v + 4) // 8 * 8)
  make_div = lambda v: div8(v) + 8 if div8(v) < 0.9 * v else div8(v)
  w = lambda i: make_div(base_widths[i] * width_mult)
  c_last = w(8) if width_mult > 1.0 else base_widths[8]
  stem = image -> ConvBNAct(in_channels, w(0), 3, 2)
  s1 = stem -> DepthwiseSeparable(w(0), w(1))
  s2 = s1 -> Stage(w(1), w(2), 2)
  s3 = s2 -> Stage(w(2), w(3), 2)
  s4 = s3 -> Stage(w(3), w(4), 2)
  s5 = s4 -> Stage(w(4), w(5), 1)
  s6 = s5 -> Stage(w(5), w(6), 2)
  s7 = s6 -> Stage(w(6), w(7), 1, depth=1)
  head = s7 -> ConvBNAct(w(7), c_last, 1) -> AdaptiveAvgPool2d(1) -> Flatten() -> Dropout(dropout)
    -> Linear(c_last, num_classes)
  return head
}
