# NAS-Bench-101 (Ying, Klein, Christiansen, Real, Murphy & Hutter, "NAS-Bench-101: Towards
# Reproducible Neural Architecture Search", ICML 2019), after google-research/nasbench.
# The cell is a DAG on 7 vertices: the input, 5 interior vertices and the output. Each of the
# 21 possible edges u -> v (u < v) is a decision `cell.eU_V` (off / on), each interior vertex
# computes conv3x3-bn-relu, conv1x1-bn-relu or maxpool3x3 of the sum of its inputs (`cell.opV`),
# or is unused (`none`, no edges); a used vertex must lie on a path from input to output, and
# a cell has at most 9 edges. All 9 cells share the architecture. Channels follow nasbench's
# model_builder: the vertices feeding the output split its channels (the first ones take one
# more when they do not divide), any other vertex takes the most of its successors; the input
# reaches a vertex through a 1x1 projection, other vertices through truncation to its channels;
# the output concatenates its interior inputs and adds the projected input.
param C = 128  # stem channels; each stack after the first halves the resolution, doubles them
param stacks = 3
param cells = 3  # cells per stack
param num_classes = 10
param in_channels = 3  # image channels
param resolution = 32  # image height and width

block ConvBNReLU(c_in, c_out, k) =
  Conv2d(c_in, c_out, k, padding=k // 2, bias=false) -> BatchNorm2d(c_out, momentum=0.003) -> ReLU()

block Vertex(c) = choice {
  conv3x3:    ConvBNReLU(c, c, 3),
  conv1x1:    ConvBNReLU(c, c, 1),
  maxpool3x3: MaxPool2d(3, 1, 1),
  none:       Zero(),
}

# An edge delivering c channels: `layer` when on, zeros when off.
block Edge(c, layer) = choice { off: Zero(out_channels=c), on: layer }

shared block Cell(c_in, c_out)(x) {
  V = ["0", "1", "2", "3", "4", "5", "6"]
  on = lambda u, v: 1 if decision("cell.e" + V[u] + "_" + V[v]) == "on" else 0
  n_out = on(1, 6) + on(2, 6) + on(3, 6) + on(4, 6) + on(5, 6)
  later = []  # channels of vertices v + 1 ... 5, computed backwards
  for v in [5, 4, 3, 2, 1] {
    before = 0  # vertices u < v feeding the output
    for u in range(1, v) {
      before = before + on(u, 6)
    }
    share = c_out // max(n_out, 1) + (1 if before < c_out % max(n_out, 1) else 0)
    widest = 1
    for w in range(v + 1, 6) {
      widest = max(widest, on(v, w) * later[w - v - 1])
    }
    later = [share if on(v, 6) == 1 else widest] + later
  }
  ch = [c_in] + later + [c_out]
  # The layers, decisions in row-major order (edges out of the input, op 1, edges out of
  # vertex 1, op 2, ...): then every vertex's constraints close early and counting is fast.
  ops, edges, offset = [], [], 0
  for u in range(6) {
    op = Vertex(ch[u], label="cell.op" + V[u]) if u > 0 else Identity()  # the input has no op
    ops = ops + [op]
    row = []
    for v in range(u + 1, 7) {
      # into v: the input projected, a vertex truncated, the output's inputs concatenated
      into = Narrow(1, 0, ch[v]) if v < 6 else PadChannels(offset, c_out)
      edge = ConvBNReLU(c_in, ch[v], 1) if u == 0 else into
      row = row + [Edge(ch[v], edge, label="cell.e" + V[u] + "_" + V[v])]
    }
    edges = edges + [row]
    offset = offset + on(u, 6) * ch[u] if u > 0 else 0
  }
  t = [x]
  for v in range(1, 7) {
    s = x -> edges[0][v - 1]
    for u in range(1, v) {
      s = s + (t[u] -> edges[u][v - u - 1])
    }
    t = t + [s -> ops[v] if v < 6 else s]
  }
  out = t[6]
  return out
}

network(x: [in_channels, resolution, resolution]) {
  stem = x -> ConvBNReLU(in_channels, C, 3)
  h, c = stem, C
  for s in range(stacks) {
    pool = h -> MaxPool2d(2, 2) if s > 0 else h
    h, c_out = pool, 2 * c if s > 0 else c
    for i in range(cells) {
      module = h -> Cell(c, c_out)
      h, c = module, c_out
    }
  }
  classifier = h -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(c, num_classes)
  V = ["0", "1", "2", "3", "4", "5", "6"]
  on = lambda u, v: decision("cell.e" + V[u] + "_" + V[v]) == "on"
  edges = 0
  for v in range(1, 7) {
    for u in range(v) {
      edges = edges + (1 if on(u, v) else 0)
    }
  }
  require edges <= 9, "a cell has at most 9 edges"
  for v in range(1, 6) {
    fed, feeds = false, false
    for u in range(v) {
      fed = fed or on(u, v)
    }
    for w in range(v + 1, 7) {
      feeds = feeds or on(v, w)
    }
    used = decision("cell.op" + V[v]) != "none"
    require fed == used, "a vertex is used (its op is not none) exactly when it has inputs"
    require feeds == fed, "every used vertex is on a path from the input to the output"
  }
  output_fed = on(0, 6) or on(1, 6) or on(2, 6) or on(3, 6) or on(4, 6) or on(5, 6)
  require output_fed, "the output has inputs"
  return classifier
}
