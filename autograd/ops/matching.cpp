// Patch matching (dcsr-spec §4.1): 3x3 descriptors, the tiled max-cosine
// search with its first-index tie rule, and their composition.
#include <atomic>

#include "autograd/ops.h"
#include "autograd/ops/dcsr_internal.h"
#include "kernels/kernels.h"

namespace dcsr {

namespace {
std::atomic<int64_t> tile_limit{int64_t(64) << 20};

void check_3d(const Tensor& t, const char* op, const char* what) {
  check_floating(t, op, what);
  DCSR_CHECK(t.dim() == 3, op, ": ", what, " must be (N, D, L), got ", shape_str(t.shape()));
}
}  // namespace

void set_match_tile_limit(int64_t bytes) {
  DCSR_CHECK(bytes > 0, "set_match_tile_limit: ", bytes, " bytes is not a positive size");
  tile_limit = bytes;
}
int64_t match_tile_limit() { return tile_limit; }

namespace detail {
Tensor normalize_columns(const Tensor& x) {
  check_3d(x, "normalize_columns", "input");
  Tensor out = empty_like(x);
  Tensor norm = empty({x.size(0), x.size(2)}, x.dtype(), x.device());
  kernels::normalize_columns(x, out, norm);
  return autograd::record("normalize_columns", {x}, out, [y = out.detach(), norm](const Tensor& g) {
    Tensor grad = empty_like(y);
    kernels::normalize_columns_backward(g, y, norm, grad);
    return TensorList{grad};
  });
}
}  // namespace detail

Tensor patch_descriptors(const Tensor& feats) {
  check_floating(feats, "patch_descriptors", "features");
  DCSR_CHECK(feats.dim() == 4, "patch_descriptors: features must be (N, C, H, W), got ", shape_str(feats.shape()));
  const int64_t H = feats.size(2), W = feats.size(3);
  DCSR_CHECK(H >= 2 && W >= 2, "patch_descriptors: features ", shape_str(feats.shape()),
             " are too small for reflection padding 1 (need H, W >= 2)");
  // Reflection padding 1 (dcsr-spec §13.1), then unfold 3x3 (rows in the
  // order c * 9 + ky * 3 + kx, columns row-major), then each column L2-normalised.
  return detail::normalize_columns(unfold(pad2d(feats, {1, 1, 1, 1}, PadMode::Reflect), 3));
}

namespace {
// max_cosine with its kernel call given: `search` fills (confidence, index).
template <typename Search>
MatchResult max_cosine_with(const Tensor& q, const Tensor& k, const Search& search) {
  check_3d(q, "max_cosine", "queries");
  check_3d(k, "max_cosine", "keys");
  check_same_device({q, k}, "max_cosine");
  DCSR_CHECK(q.dtype() == k.dtype() && q.size(0) == k.size(0) && q.size(1) == k.size(1),
             "max_cosine: queries ", shape_str(q.shape()), " ", dtype_name(q.dtype()), " and keys ",
             shape_str(k.shape()), " ", dtype_name(k.dtype()), " differ in batch, dimension or dtype");
  DCSR_CHECK(k.size(2) > 0, "max_cosine: no keys in ", shape_str(k.shape()));
  const int64_t N = q.size(0), Nq = q.size(2);
  Tensor confidence = empty({N, Nq}, q.dtype(), q.device());
  Tensor index = empty({N, Nq}, kInt64, q.device());
  search(confidence, index);
  // Sparse backward (dcsr-spec §13.4): only the selected key of each query
  // receives gradient, and nothing flows through the argmax.
  bool need_q = q.requires_grad(), need_k = k.requires_grad();
  TensorList outputs = autograd::record(
      "max_cosine", {q, k}, {confidence, index},
      [q = q.detach(), k = k.detach(), index, need_q, need_k](const TensorList& grads) {
        if (!grads[0].defined()) return TensorList{Tensor(), Tensor()};
        Tensor grad_q = need_q ? empty_like(q) : Tensor();
        Tensor grad_k = need_k ? empty_like(k) : Tensor();
        kernels::max_cosine_backward(q, k, index, grads[0], grad_q, grad_k);
        return TensorList{grad_q, grad_k};
      });
  return {outputs[0], outputs[1]};
}
}  // namespace

MatchResult max_cosine(const Tensor& q, const Tensor& k) {
  return max_cosine_with(q, k, [&](Tensor& confidence, Tensor& index) {
    kernels::max_cosine(q, k, confidence, index, match_tile_limit());
  });
}

MatchResult patch_match(const Tensor& query, const Tensor& key) {
  check_floating(query, "patch_match", "query features");
  check_floating(key, "patch_match", "key features");
  DCSR_CHECK(query.dim() == 4 && key.dim() == 4 && query.size(0) == key.size(0) && query.size(1) == key.size(1),
             "patch_match: query ", shape_str(query.shape()), " and key ", shape_str(key.shape()),
             " must be (N, C, h, w) and (N, C, H, W) with the same N and C");
  // The descriptors feed the backward and the exact re-scoring; the search
  // may also read the maps themselves (kernels::patch_max_cosine).
  const Tensor q = patch_descriptors(query), k = patch_descriptors(key);
  const Tensor query_map = query.detach(), key_map = key.detach();
  MatchResult m = max_cosine_with(q, k, [&](Tensor& confidence, Tensor& index) {
    kernels::patch_max_cosine(query_map, key_map, q, k, confidence, index, match_tile_limit());
  });
  return {m.confidence.reshape({query.size(0), 1, query.size(2), query.size(3)}), m.index};
}

}  // namespace dcsr
