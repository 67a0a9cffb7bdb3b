// Device dispatch of the DCSR operator kernels: one plain switch per kernel.
#include "kernels/dispatch.h"

namespace dcsr::kernels {

void normalize_columns(const Tensor& x, Tensor& out, Tensor& norm) {
  const KernelScope scope("normalize_columns", x.device());
  switch (x.device()) {
    case Device::CPU: return cpu::normalize_columns(x, out, norm);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::normalize_columns(x, out, norm));
  }
}

void normalize_columns_backward(const Tensor& grad_out, const Tensor& out, const Tensor& norm, Tensor& grad_in) {
  const KernelScope scope("normalize_columns_backward", out.device());
  switch (out.device()) {
    case Device::CPU: return cpu::normalize_columns_backward(grad_out, out, norm, grad_in);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::normalize_columns_backward(grad_out, out, norm, grad_in));
  }
}

void max_cosine(const Tensor& q, const Tensor& k, Tensor& confidence, Tensor& index, int64_t workspace_bytes) {
  const KernelScope scope("max_cosine", q.device());
  switch (q.device()) {
    case Device::CPU: return cpu::max_cosine(q, k, confidence, index, workspace_bytes);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::max_cosine(q, k, confidence, index, workspace_bytes));
  }
}

void patch_max_cosine(const Tensor& query_feats, const Tensor& key_feats, const Tensor& q, const Tensor& k,
                      Tensor& confidence, Tensor& index, int64_t workspace_bytes) {
  // The maps must be those the descriptors were made from (the CPU path reads both).
  DCSR_CHECK(query_feats.dim() == 4 && key_feats.dim() == 4 && q.dim() == 3 && k.dim() == 3 &&
                 query_feats.dtype() == q.dtype() && key_feats.dtype() == q.dtype() &&
                 query_feats.size(0) == q.size(0) && key_feats.size(0) == k.size(0) &&
                 key_feats.size(1) == query_feats.size(1) && q.size(1) == 9 * query_feats.size(1) &&
                 q.size(2) == query_feats.size(2) * query_feats.size(3) &&
                 k.size(2) == key_feats.size(2) * key_feats.size(3),
             "patch_max_cosine: maps ", shape_str(query_feats.shape()), " and ", shape_str(key_feats.shape()), " ",
             dtype_name(query_feats.dtype()), " do not match descriptors ", shape_str(q.shape()), " and ",
             shape_str(k.shape()), " ", dtype_name(q.dtype()), " (D = 9C, one column per pixel)");
  // Timed under max_cosine's name: the same work, and profiles stay comparable.
  const KernelScope scope("max_cosine", q.device());
  switch (q.device()) {
    case Device::CPU: return cpu::patch_max_cosine(query_feats, key_feats, q, k, confidence, index, workspace_bytes);
    case Device::CUDA:
      return DCSR_CUDA_ONLY(
          cuda::patch_max_cosine(query_feats, key_feats, q, k, confidence, index, workspace_bytes));
  }
}

void max_cosine_backward(const Tensor& q, const Tensor& k, const Tensor& index, const Tensor& grad_conf,
                         Tensor& grad_q, Tensor& grad_k) {
  const KernelScope scope("max_cosine_backward", q.device());
  switch (q.device()) {
    case Device::CPU: return cpu::max_cosine_backward(q, k, index, grad_conf, grad_q, grad_k);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::max_cosine_backward(q, k, index, grad_conf, grad_q, grad_k));
  }
}

void block_gather(const Tensor& value, const Tensor& index, int64_t block, Tensor& out) {
  const KernelScope scope("block_gather", value.device());
  switch (value.device()) {
    case Device::CPU: return cpu::block_gather(value, index, block, out);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::block_gather(value, index, block, out));
  }
}

void block_gather_backward(const Tensor& grad_out, const Tensor& index, int64_t block, Tensor& grad_value) {
  const KernelScope scope("block_gather_backward", grad_out.device());
  switch (grad_out.device()) {
    case Device::CPU: return cpu::block_gather_backward(grad_out, index, block, grad_value);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::block_gather_backward(grad_out, index, block, grad_value));
  }
}

void grid_sample(const Tensor& x, const Tensor& grid, SampleBorder border, Tensor& out) {
  const KernelScope scope("grid_sample", x.device());
  switch (x.device()) {
    case Device::CPU: return cpu::grid_sample(x, grid, border, out);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::grid_sample(x, grid, border, out));
  }
}

void grid_sample_backward(const Tensor& x, const Tensor& grid, const Tensor& grad_out, SampleBorder border,
                          Tensor& grad_x, Tensor& grad_grid) {
  const KernelScope scope("grid_sample_backward", x.device());
  switch (x.device()) {
    case Device::CPU: return cpu::grid_sample_backward(x, grid, grad_out, border, grad_x, grad_grid);
    case Device::CUDA:
      return DCSR_CUDA_ONLY(cuda::grid_sample_backward(x, grid, grad_out, border, grad_x, grad_grid));
  }
}

void aligned_grid(const Tensor& params, int64_t block, Tensor& grid) {
  const KernelScope scope("aligned_grid", params.device());
  switch (params.device()) {
    case Device::CPU: return cpu::aligned_grid(params, block, grid);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::aligned_grid(params, block, grid));
  }
}

void aligned_grid_backward(const Tensor& params, const Tensor& grad_grid, int64_t block, Tensor& grad_params) {
  const KernelScope scope("aligned_grid_backward", params.device());
  switch (params.device()) {
    case Device::CPU: return cpu::aligned_grid_backward(params, grad_grid, block, grad_params);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::aligned_grid_backward(params, grad_grid, block, grad_params));
  }
}

void contextual_forward(const Tensor& xh, const Tensor& yh, double band_width, int64_t workspace_bytes,
                        Tensor& row_stats, Tensor& row_arg, Tensor& col_stats, Tensor& col_arg, Tensor& cx) {
  const KernelScope scope("contextual_forward", xh.device());
  switch (xh.device()) {
    case Device::CPU:
      return cpu::contextual_forward(xh, yh, band_width, workspace_bytes, row_stats, row_arg, col_stats, col_arg,
                                     cx);
    case Device::CUDA:
      return DCSR_CUDA_ONLY(cuda::contextual_forward(xh, yh, band_width, workspace_bytes, row_stats, row_arg,
                                                     col_stats, col_arg, cx));
  }
}

void contextual_backward(const Tensor& xh, const Tensor& yh, const Tensor& row_stats, const Tensor& row_arg,
                         const Tensor& col_stats, const Tensor& col_arg, const Tensor& cx, const Tensor& grad_cx,
                         double band_width, int64_t workspace_bytes, Tensor& grad_xh, Tensor& grad_yh) {
  const KernelScope scope("contextual_backward", xh.device());
  switch (xh.device()) {
    case Device::CPU:
      return cpu::contextual_backward(xh, yh, row_stats, row_arg, col_stats, col_arg, cx, grad_cx, band_width,
                                      workspace_bytes, grad_xh, grad_yh);
    case Device::CUDA:
      return DCSR_CUDA_ONLY(cuda::contextual_backward(xh, yh, row_stats, row_arg, col_stats, col_arg, cx, grad_cx,
                                                      band_width, workspace_bytes, grad_xh, grad_yh));
  }
}

}  // namespace dcsr::kernels
