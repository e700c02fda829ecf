// Batched covariance on the GPU (docs/definitions.md §2): many independent dim x dim accumulators
// (layers, pixels) updated from device batches without leaving the device.
//
// An update runs three kernels: the update's per-entry column means (one thread per column,
// float64 sums; a non-finite mean is flagged and the update refused before the state changes),
// the centred product Xc^T Xc in 16 x 16 output tiles over 16-row shared-memory chunks, fused
// with the Chan merge into the state's M2, and the merge of the means. Means are merged last:
// the M2 kernel reads the state's old mean for delta = mean_update - mean_state. The full
// dim x dim product is computed (not only one triangle): simpler, at twice the arithmetic.
#include <cuda_runtime.h>

#include <cmath>
#include <vector>

#include "covariance.hpp"
#include "cuda_util.cuh"
#include "pycx/covariance_math.hpp"

namespace pycx::cuda {
namespace {

constexpr int kTile = 16;
constexpr int kMaxGridZ = 65535;

template <typename T>
__global__ void column_means_kernel(const T* __restrict__ x, const int64_t* __restrict__ offsets,
                                    int64_t B, int64_t n, int64_t dim, int64_t s_row,
                                    int64_t s_col, double* block_mean, int32_t* bad) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= dim) return;
  for (int64_t b = blockIdx.y; b < B; b += gridDim.y) {
    const T* col = x + offsets[b] + c * s_col;
    double sum = 0.0;
    for (int64_t r = 0; r < n; ++r) sum += static_cast<double>(col[r * s_row]);
    const double mean = sum / static_cast<double>(n);
    block_mean[b * dim + c] = mean;
    if (!isfinite(mean)) *bad = 1;
  }
}

// m2[b, i, j] = chan_merged_m2(m2[b, i, j], sum_r xc_ri xc_rj, delta_i, delta_j, w) with
// xc = x - block_mean and delta = block_mean - mean.
template <typename T>
__global__ void centred_product_merge_kernel(const T* __restrict__ x,
                                             const int64_t* __restrict__ offsets, int64_t B,
                                             int64_t n, int64_t dim, int64_t s_row, int64_t s_col,
                                             const double* __restrict__ block_mean,
                                             const double* __restrict__ mean, ChanWeights w,
                                             double* m2) {
  __shared__ double sI[kTile][kTile + 1];
  __shared__ double sJ[kTile][kTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t i0 = int64_t(blockIdx.y) * kTile, j0 = int64_t(blockIdx.x) * kTile;
  for (int64_t b = blockIdx.z; b < B; b += gridDim.z) {  // uniform over the block
    const T* base = x + offsets[b];
    const double* mu = block_mean + b * dim;
    const int64_t ci = i0 + tx, cj = j0 + tx;  // columns this thread loads
    const double mean_i = ci < dim ? mu[ci] : 0.0, mean_j = cj < dim ? mu[cj] : 0.0;
    double acc = 0.0;
    for (int64_t r0 = 0; r0 < n; r0 += kTile) {
      const int64_t r = r0 + ty;
      const T* row = base + r * s_row;
      sI[ty][tx] = (r < n && ci < dim) ? static_cast<double>(row[ci * s_col]) - mean_i : 0.0;
      sJ[ty][tx] = (r < n && cj < dim) ? static_cast<double>(row[cj * s_col]) - mean_j : 0.0;
      __syncthreads();
#pragma unroll
      for (int k = 0; k < kTile; ++k) acc += sI[k][ty] * sJ[k][tx];
      __syncthreads();
    }
    const int64_t i = i0 + ty, j = j0 + tx;
    if (i < dim && j < dim) {
      const double delta_i = mu[i] - mean[b * dim + i];
      const double delta_j = mu[j] - mean[b * dim + j];
      double* dst = m2 + (b * dim + i) * dim + j;
      *dst = chan_merged_m2(*dst, acc, delta_i, delta_j, w);
    }
  }
}

__global__ void merge_m2_kernel(int64_t total, int64_t dim, const double* __restrict__ mean_a,
                                double* m2_a, const double* __restrict__ mean_b,
                                const double* __restrict__ m2_b, ChanWeights w) {
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = t % dim, bi = t / dim;  // bi = b * dim + i
    const int64_t i = bi % dim, b = bi / dim;
    const double delta_i = mean_b[b * dim + i] - mean_a[b * dim + i];
    const double delta_j = mean_b[b * dim + j] - mean_a[b * dim + j];
    m2_a[t] = chan_merged_m2(m2_a[t], m2_b[t], delta_i, delta_j, w);
  }
}

__global__ void merge_mean_kernel(int64_t total, double* mean_a, const double* __restrict__ mean_b,
                                  ChanWeights w) {
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x)
    mean_a[t] = chan_merged_mean(mean_a[t], mean_b[t] - mean_a[t], w);
}

template <typename T>
bool update(const T* x, const int64_t* host_offsets, int64_t B, int64_t n, int64_t dim,
            int64_t s_row, int64_t s_col, int64_t count, double* mean, double* m2,
            cudaStream_t st) {
  Scratch<int64_t> offsets(B, st);
  check(cudaMemcpyAsync(offsets.get(), host_offsets, sizeof(int64_t) * B, cudaMemcpyHostToDevice, st),
        "cudaMemcpyAsync");
  Scratch<double> block_mean(B * dim, st);
  Scratch<int32_t> bad(1, st);
  check(cudaMemsetAsync(bad.get(), 0, sizeof(int32_t), st), "cudaMemsetAsync");
  const int threads = 128;
  const dim3 mean_grid(static_cast<unsigned>((dim + threads - 1) / threads),
                       static_cast<unsigned>(B < kMaxGridZ ? B : kMaxGridZ));
  column_means_kernel<T><<<mean_grid, threads, 0, st>>>(x, offsets.get(), B, n, dim, s_row, s_col,
                                                        block_mean.get(), bad.get());
  check_launch("column_means_kernel");
  if (read_back(bad.get(), st) != 0) return false;
  const ChanWeights w = chan_weights(count, n);
  const unsigned tiles = static_cast<unsigned>((dim + kTile - 1) / kTile);
  const dim3 grid(tiles, tiles, static_cast<unsigned>(B < kMaxGridZ ? B : kMaxGridZ));
  centred_product_merge_kernel<T><<<grid, dim3(kTile, kTile), 0, st>>>(
      x, offsets.get(), B, n, dim, s_row, s_col, block_mean.get(), mean, w, m2);
  check_launch("centred_product_merge_kernel");
  merge_mean_kernel<<<blocks_for(B * dim, 256), 256, 0, st>>>(B * dim, mean, block_mean.get(), w);
  check_launch("merge_mean_kernel");
  return true;
}

}  // namespace

bool covariance_update(bool is_double, const void* x, const int64_t* batch_offsets, int64_t B,
                       int64_t n, int64_t dim, int64_t s_row, int64_t s_col, int64_t count,
                       double* mean, double* m2, int device, void* stream) {
  DeviceGuard guard(device);
  if (B == 0 || n == 0 || dim == 0) return true;
  const cudaStream_t st = as_stream(stream);
  if (is_double)
    return update(static_cast<const double*>(x), batch_offsets, B, n, dim, s_row, s_col, count,
                  mean, m2, st);
  return update(static_cast<const float*>(x), batch_offsets, B, n, dim, s_row, s_col, count, mean,
                m2, st);
}

void covariance_merge(int64_t B, int64_t dim, int64_t count_a, double* mean_a, double* m2_a,
                      int64_t count_b, const double* mean_b, const double* m2_b, int device,
                      void* stream) {
  DeviceGuard guard(device);
  if (count_b == 0 || B == 0 || dim == 0) return;
  const cudaStream_t st = as_stream(stream);
  const ChanWeights w = chan_weights(count_a, count_b);
  merge_m2_kernel<<<blocks_for(B * dim * dim, 256), 256, 0, st>>>(B * dim * dim, dim, mean_a, m2_a,
                                                                  mean_b, m2_b, w);
  check_launch("merge_m2_kernel");
  merge_mean_kernel<<<blocks_for(B * dim, 256), 256, 0, st>>>(B * dim, mean_a, mean_b, w);
  check_launch("merge_mean_kernel");
}

}  // namespace pycx::cuda
