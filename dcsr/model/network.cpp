#include "dcsr/model/network.h"

#include <algorithm>

namespace dcsr {

namespace {
// nn.Sequential of BasicBlocks given as (cin, cout, kernel, stride).
struct BlockSpec {
  int64_t cin, cout, kernel, stride;
};
std::unique_ptr<nn::BasicBlocks> blocks(std::initializer_list<BlockSpec> specs, Generator& gen) {
  auto out = std::make_unique<nn::BasicBlocks>();
  for (const BlockSpec& s : specs) out->push_back(std::make_unique<nn::BasicBlock>(s.cin, s.cout, s.kernel, gen, s.stride));
  return out;
}

// Bicubic x2 with align_corners=False: every upsampling of the model except
// the one inside the matching extractor (§1).
Tensor up2(const Tensor& x) { return bicubic_resize(x, 2 * x.size(2), 2 * x.size(3), false); }

// x (N, C, H, W) less t pixels on every side (a copy; x itself for t = 0).
Tensor trim(const Tensor& x, int64_t t) {
  if (t == 0) return x;
  return crop2d(x, {t, t, t, t});
}

// The index (N, gh*gw) of a gh x gw grid less t positions on every side
// (int64, which crop2d does not take: two narrows).
Tensor trim_index(const Tensor& index, int64_t gh, int64_t gw, int64_t t) {
  if (t == 0) return index;
  const int64_t n = index.size(0);
  const Tensor grid = index.reshape({n, gh, gw});
  return narrow(narrow(grid, 1, t, gh - 2 * t), 2, t, gw - 2 * t).reshape({n, (gh - 2 * t) * (gw - 2 * t)});
}

// Where the SR-resolution layers run when the caller keeps only the centre of
// the output (DcsrNet::forward's sr_margin M): each stage on a frame, the
// tile less `trim` SR pixels a side. A layer computed on a frame pads at the
// frame's edge where the full tile has values, so a band along the edge (its
// "ring") comes out wrong: 3 px for up2 of a trimmed input, one more for a
// 3x3 conv, two for 5x5, three for 7x7. The aligner's sampler reads corners
// up to 3 px (4K mode, blocks of k = 2) or 8 px (8K, k = 4) from the output
// pixel: its sample lies within (k - 1) / 2 * 3 * sqrt 2 of the block's
// centre (§5's offsets at the clamped scales +-3, rotated), on either side,
// since a negative scale flips the block. Stage by stage, extensions
// E = M - trim beyond the centre and rings, in SR px (grid px on the block
// grid):
//   4K mode:
//   aa3   E 32: lr_up (ring 3) and the Ref mosaic -> conv1 (5x5 + ResBlock:
//               7) -> p_conv.0 (5x5 stride 2: grid ring 5) -> ResBlock (7)
//               -> params valid 16 - 7 = 9 grid px beyond the centre.
//   aa1   E 16: the same inputs trimmed 16 more (ring 0) -> 4 -> grid 3 -> 5
//               -> params valid 3 grid px beyond.
//   trunk E 18: f1u and cu from f1 and C trimmed at LR (ring 3), f_ref1_al
//               (AA3's params valid, sampler 3) -> fusion2 (+3: 6), alpha2
//               (+4: 7) -> decoder2 (9 convs: 16) -> tail (18) <= 18.
//   image E 8:  HF_al (AA1's params 2 px short, sampler 3) and cu -> alpha3
//               (+4): 7 <= 8.
//   8K mode (p_conv.0 has stride 4; trims are multiples of 4, the block):
//   aa3   E 36: ring 7 -> grid 3 -> 5 -> params valid 9 - 5 = 4 grid px.
//   aa1   E 20: ring 4 -> grid 2 -> 4 -> params valid 1.
//   trunk E 24: f_ref1_al (params 2 grid px = 8 short, sampler 8) -> fusion2
//               (11), alpha2 (7) -> decoder2 (20) -> tail (22) <= 24.
//   image E 12: HF_al (params 2 grid px = 8 short, sampler 8) -> alpha3
//               (+4): 12 <= 12.
//   out   E 0:  base (trunk), HF_al and g3 (image) trimmed to the centre.
// tests/test_model.cpp checks it in float64, where a 4K trunk frame 2 px
// short of this shows (1e-10 against 1e-14), and an 8K one 4 px short with
// the aligners at their clamps (1e-9). Trims are multiples of the
// block (whole grid and LR pixels) and never below 0: a frame that would
// reach past the tile is the tile, whose edge is the truth.
struct SrFrames {
  int64_t aa3 = 0, aa1 = 0, trunk = 0, image = 0, out = 0;
};
SrFrames sr_frames(Mode mode, int64_t margin) {
  const bool k4 = mode == Mode::K4;
  const int64_t block = big_block(mode);
  auto trim_for = [&](int64_t extension) { return std::max<int64_t>(0, margin - extension) / block * block; };
  SrFrames f;
  f.aa3 = trim_for(k4 ? 32 : 36);
  f.aa1 = trim_for(k4 ? 16 : 20);
  f.trunk = trim_for(k4 ? 18 : 24);
  f.image = trim_for(k4 ? 8 : 12);
  f.out = margin;
  return f;
}
}  // namespace

DcsrNet::DcsrNet(const ModelConfig& config, Generator& gen) : config_(config) {
  const int64_t n = config.n_feats;
  DCSR_CHECK(n >= 2 && n % 2 == 0, "DcsrNet: n_feats must be even and >= 2, got ", n);
  // Registration order = the reference state-dict order (dcsr_ref.DCSR).
  feature_match_ = &register_module("feature_match", std::make_unique<FeatureMatching>(gen));
  ref_encoder1_ = &register_module("ref_encoder1", blocks({{3, n, 3, 1}, {n, n, 3, 1}}, gen));
  res1_ = &register_module("res1", std::make_unique<nn::ResList>(4, n, gen));
  ref_encoder2_ = &register_module("ref_encoder2", blocks({{n, n, 3, 2}, {n, n, 3, 1}}, gen));  // stride 2: Ref/2
  res2_ = &register_module("res2", std::make_unique<nn::ResList>(4, n, gen));
  input_encoder_ = &register_module("input_encoder", std::make_unique<nn::EncoderInput>(8, n, 3, gen));
  fusion1_ = &register_module("fusion1", blocks({{2 * n, n, 5, 1}, {n, n, 3, 1}}, gen));
  decoder1_ = &register_module("decoder1", std::make_unique<nn::ResList>(8, n, gen));
  fusion2_ = &register_module("fusion2", blocks({{2 * n, n, 5, 1}, {n, n, 3, 1}}, gen));
  decoder2_ = &register_module("decoder2", std::make_unique<nn::ResList>(4, n, gen));
  auto& tail = register_module("decoder_tail", std::make_unique<nn::Container>());
  tail0_ = &tail.add("0", nn::make_conv(n, n / 2, 3, gen));  // n_feats/2 middle channels (§13.7)
  tail2_ = &tail.add("2", nn::make_conv(n / 2, 3, 3, gen));
  alpha1_ = &register_module("alpha1", blocks({{1, 16, 7, 1}, {16, n, 3, 1}}, gen));
  alpha2_ = &register_module("alpha2", blocks({{1, 16, 7, 1}, {16, n, 3, 1}}, gen));
  alpha3_ = &register_module("alpha3", blocks({{4, 32, 7, 1}, {32, 3, 3, 1}}, gen));
  aa1_ = &register_module("aa1", std::make_unique<AlignedAttention>(gen));
  // aa2 (align=False) has no parameters: a plain block_gather in forward().
  aa3_ = &register_module("aa3", std::make_unique<AlignedAttention>(gen));
}

DcsrNet::Output DcsrNet::forward(const Tensor& lr, const Tensor& ref, Mode mode, int64_t sr_margin) const {
  DCSR_CHECK(lr.dim() == 4 && lr.size(1) == 3, "DcsrNet: lr must be (N, 3, h, w), got ", shape_str(lr.shape()));
  DCSR_CHECK(ref.dim() == 4 && ref.size(1) == 3 && ref.size(0) == lr.size(0), "DcsrNet: ref must be (N, 3, Hr, Wr) with N = ",
             lr.size(0), ", got ", shape_str(ref.shape()));
  DCSR_CHECK(lr.dtype() == dtype() && ref.dtype() == dtype(), "DcsrNet: inputs are ", dtype_name(lr.dtype()), "/",
             dtype_name(ref.dtype()), ", the parameters ", dtype_name(dtype()));
  const int64_t h = lr.size(2), w = lr.size(3), hr = ref.size(2), wr = ref.size(3);
  // §4.2 / §13.6: odd LR sizes crash the reference (the AA2 fold and the concat
  // disagree by one row); Ref sizes must make the block grid equal the key grid.
  DCSR_CHECK(h % 2 == 0 && w % 2 == 0 && h >= 2 && w >= 2, "DcsrNet: LR size ", h, "x", w, " must be even");
  DCSR_CHECK(sr_margin >= 0 && sr_margin < h && sr_margin < w, "DcsrNet: an SR margin of ", sr_margin,
             " px leaves nothing of a ", 2 * h, "x", 2 * w, " output");
  const int64_t kb = big_block(mode), ks = small_block(mode);
  const SrFrames frame = sr_frames(mode, sr_margin);
  DCSR_CHECK(hr % kb == 0 && wr % kb == 0 && hr > 0 && wr > 0, "DcsrNet: Ref size ", hr, "x", wr,
             " must be a multiple of ", kb, " in ", mode_name(mode), " mode");

  Output out;
  // 1. Matching (§4.1). C is differentiable (its gradient reaches the
  // extractor only through C -> alpha gates, §2 notes); I is an integer map.
  MatchResult match = feature_match_->match(lr, ref, mode);
  out.confidence = match.confidence;
  out.index = match.index;
  const Tensor& index = match.index;

  // Output grids of the aligned-attention modules: always 2x the first input's
  // size in blocks of k. AA1/AA3: first input = LR -> (2h/kb, 2w/kb), i.e. the
  // LR grid in 4K mode and the LR/2 grid in 8K mode = the query grid.
  const int64_t gh = 2 * h / kb, gw = 2 * w / kb;
  // AA2: the reference passes bicubic(LR, x0.5) only for its SIZE (floor
  // halves), so its mosaic is 2 * (h/2) = h rows (§2 step 6, §4.2). The
  // resize itself is skipped here: nothing reads its values.
  const int64_t gh2 = 2 * (h / 2) / ks, gw2 = 2 * (w / 2) / ks;

  // 2. Ref high frequencies: Ref - up2(avgpool2(Ref)) (§6).
  Tensor ref_hf = ref - up2(avg_pool2d(ref, 2));

  // The SR-resolution stages run on frames (SrFrames; all the whole tile
  // without an sr_margin). A frame trimmed t SR px is t / kb positions less
  // a side of the block grid (the LR grid in 4K mode) and t / 2 LR px.
  const auto grid_h = [&](int64_t t) { return gh - 2 * t / kb; };
  const auto grid_w = [&](int64_t t) { return gw - 2 * t / kb; };
  const auto index_at = [&](int64_t t) { return trim_index(index, gh, gw, t / kb); };

  // Shared by AA1 and AA3 (computed once): the LR upsampled for the aligner's
  // query branch and the raw Ref RGB gathered with the same index (§5 steps
  // 1-2), on AA3's frame; AA1's is inside it.
  Tensor lr_up = up2(trim(lr, frame.aa3 / 2));
  Tensor ref_mosaic = block_gather(ref, index_at(frame.aa3), kb, grid_h(frame.aa3), grid_w(frame.aa3));

  // 3. HF_al = AA1(Ref_hf), on the image frame.
  const int64_t aa1_in = frame.aa1 - frame.aa3;
  out.aa1_params = aa1_->predict(trim(lr_up, aa1_in), trim(ref_mosaic, aa1_in), kb);
  Tensor hf_al = aa1_->apply(ref_hf, index_at(frame.image), kb, grid_h(frame.image), grid_w(frame.image),
                             trim(out.aa1_params, (frame.image - frame.aa1) / kb));

  // 4-5. Reference encoders psi1 (Ref res) and psi2 (Ref/2 res).
  Tensor f_ref1 = res1_->forward(ref_encoder1_->forward(ref));
  Tensor f_ref2 = res2_->forward(ref_encoder2_->forward(f_ref1));

  // 7. AA2: gather of psi2 features, no alignment (§3.5, §14).
  Tensor f_ref2_w = block_gather(f_ref2, index, ks, gh2, gw2);
  // 8. AA3: aligned psi1 features at HR res (own aligner weights), on the trunk's frame.
  out.aa3_params = aa3_->predict(lr_up, ref_mosaic, kb);
  Tensor f_ref1_al = aa3_->apply(f_ref1, index_at(frame.trunk), kb, grid_h(frame.trunk), grid_w(frame.trunk),
                                 trim(out.aa3_params, (frame.trunk - frame.aa3) / kb));
  ref_mosaic = Tensor();
  lr_up = Tensor();

  // 9. LR encoder ("input_up" in the reference, but NOT upsampled).
  Tensor f_lr = input_encoder_->forward(lr);

  // Confidence at LR resolution: C itself (4K) or C bicubic x2 (8K, §7),
  // and at HR resolution for alpha2 / alpha3.
  Tensor c1 = mode == Mode::K8 ? up2(match.confidence) : match.confidence;
  Tensor cu = up2(trim(c1, frame.trunk / 2));

  // 10-12. LR-scale fusion: F1 = D1(F_lr + g1(C) * h1([F_ref2_w, F_lr])).
  // The gates end in LeakyReLU (not a sigmoid): they can exceed 1 (§2 notes).
  // (The concats below are not written out in inference: BasicBlocks::forward_concat.)
  Tensor x = fusion1_->forward_concat(f_ref2_w, f_lr);
  Tensor f1 = decoder1_->forward(f_lr + alpha1_->forward(c1) * x);
  // 13. The only LR->HR step of the trunk: bicubic x2 of FEATURES (§2 step 13).
  Tensor f1u = up2(trim(f1, frame.trunk / 2));
  // 15-16. HR-scale fusion.
  Tensor y = fusion2_->forward_concat(f_ref1_al, f1u);
  Tensor f2 = decoder2_->forward(f1u + alpha2_->forward(cu) * y);
  // 17. decoder_tail: conv -> LReLU -> conv, no final activation.
  Tensor base = tail2_->forward(tail0_->forward_activated(f2));
  // 18-19. Image-space fusion; the gate sees [confidence, HF] in this order.
  // No global residual (no upsampled LR added) and no output clamp (§2 notes).
  Tensor g3 = alpha3_->forward(concat({trim(cu, frame.image - frame.trunk), hf_al}, 1));
  const int64_t image_out = frame.out - frame.image;
  out.warped_ref_hf = trim(hf_al, image_out);
  out.sr = trim(base, frame.out - frame.trunk) + out.warped_ref_hf * trim(g3, image_out);
  return out;
}

}  // namespace dcsr
