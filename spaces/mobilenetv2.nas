# MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
# CVPR 2018): the network of the paper's Table 2, as torchvision builds it
# (`mobilenet_v2`, 3,504,872 parameters at width 1.0 and 1000 classes). No decisions: a
# fixed network is a space of one architecture, to compile, export, or build a search
# space on. proxylessnas.nas holds it too (its base_widths set to MobileNetV2's, every
# block k3e6, depths 2, 3, 4, 3, 3, 1).
import "mobile_ops.nas"

param num_classes = 1000
param resolution = 224  # input height and width
param in_channels = 3   # image channels
param width_mult = 1.0
param dropout = 0.2

network(image: [in_channels, resolution, resolution]) {
  # torchvision's _make_divisible: the nearest multiple of 8, at least 8, not 10% below v
  div8 = lambda v: max(8, int(v + 4) // 8 * 8)
  make_div = lambda v: div8(v) + 8 if div8(v) < 0.9 * v else div8(v)
  # Table 2 of the paper, one row per stage: expansion t, output channels c, blocks n, stride
  # of the first block s. Row 1 (t = 1, 16 channels) is a depthwise-separable block.
  t = [6, 6, 6, 6, 6, 6]
  c = [24, 32, 64, 96, 160, 320]
  n = [2, 3, 4, 3, 3, 1]
  s = [2, 2, 2, 1, 2, 1]
  c_in = make_div(16 * width_mult)
  stem = image -> ConvBNAct(in_channels, make_div(32 * width_mult), 3, 2, eps=1e-5)
  h = stem -> DepthwiseSeparable(make_div(32 * width_mult), c_in, eps=1e-5)
  for row in range(6) {
    c_out = make_div(c[row] * width_mult)
    for i in range(n[row]) {
      stride = s[row] if i == 0 else 1
      skip = stride == 1 and c_in == c_out
      h = h -> InvertedResidual(c_in, c_out, 3, t[row], stride, skip=skip, eps=1e-5)
      c_in = c_out
    }
  }
  c_last = make_div(1280 * max(1.0, width_mult))
  head = h -> ConvBNAct(c_in, c_last, 1, eps=1e-5) -> AdaptiveAvgPool2d(1) -> Flatten()
    -> Dropout(dropout) -> Linear(c_last, num_classes)
  return head
}
