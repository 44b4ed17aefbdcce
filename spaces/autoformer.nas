# AutoFormer (Chen et al., "AutoFormer: Searching Transformers for Visual Recognition", ICCV
# 2021), as NNI's hub AutoFormer defines it (its defaults: the Tiny space). A ViT: patches
# embedded by a strided conv, a class token, a learned position embedding, a chosen number of
# pre-norm transformer layers, a final layer norm, the mean of the patch tokens, a linear head.
# One embedding size is shared by every layer; each layer picks its heads (of a fixed
# head_dim = 64, so the attention's inner width is heads * 64) and its MLP ratio. Attention
# adds 2-D relative position encodings of keys and values (NNI's default rpe=True). The
# supernet shares weights across choices (weight entanglement, as in the paper); dropout and
# drop-path are training-time only and left out.
# Size: ours counts exactly, the choices of layer i existing only when depth > i:
# 3 * (6^12 + 6^13 + 6^14) = 280,804,921,344 (2.81e11). NNI counts every domain as if all
# 14 layers always existed: 3 * 3 * 6^14 = 705,277,476,864 (7.05e11), the product of our
# domain sizes too. Labels: NNI's `embed_dim`, `depth`, `num_head_{i}`, `mlp_ratio_{i}` are
# our `embed_dim`, `blocks.depth`, `blocks.{i}.num_heads`, `blocks.{i}.mlp_ratio`.
param search_embed_dim = [192, 216, 240]
param search_mlp_ratio = [3.0, 3.5, 4.0]
param search_num_heads = [3, 4]
param search_depth = [12, 13, 14]
param head_dim = 64
param img_size = 224
param in_channels = 3  # image channels
param patch_size = 16
param num_classes = 1000
param rpe = true  # relative position encoding in every attention

block Layer(e, num_heads, mlp_ratio)(x) {
  attn = x -> LayerNorm(e)
    -> RelPosSelfAttention(e, num_heads, head_dim, rpe=rpe, rpe_length=img_size // patch_size)
  h = x + attn
  ffn = h -> LayerNorm(e) -> Linear(e, int(e * mlp_ratio)) -> GELU()
    -> Linear(int(e * mlp_ratio), e)
  return h + ffn
}

network(x: [in_channels, img_size, img_size]) {
  embed_dim = choice[search_embed_dim]
  n = (img_size // patch_size) ** 2  # patches
  patch_embed = x -> Conv2d(in_channels, embed_dim, patch_size, patch_size) -> Flatten(2)
    -> Transpose(1, 2)
  tokens = patch_embed -> ClassToken(embed_dim) -> PositionEmbedding(n + 1, embed_dim)
  blocks = tokens -> repeat(
    choice[search_depth],
    lambda i: Layer(embed_dim, choice[search_num_heads], choice[search_mlp_ratio]),
  )
  norm = blocks -> LayerNorm(embed_dim)
  pooled = norm -> Narrow(1, 1, n) -> Transpose(1, 2) -> AdaptiveAvgPool1d(1) -> Flatten()
  head = pooled -> Linear(embed_dim, num_classes)
  return head
}
