// Bit-packing on the GPU (docs/definitions.md §1), same bit layout as the CPU kernels.
//
// Two kernels for the two memory orders of the gate axis:
// - channels contiguous (s_c == 1: rows of a 2-D array, channels-last 4-D tensors): one warp
//   per 64-bit word; lane l reads gates l and l + 32 (coalesced) and __ballot_sync gathers the
//   bits;
// - channels strided (NCHW): one thread per output word; neighbouring threads take neighbouring
//   spatial positions, so each channel plane is read coalesced while the thread builds its word
//   over up to 64 channels.
#include <cuda_runtime.h>

#include <type_traits>

#include "cuda_util.cuh"
#include "pack_bits.hpp"
#include "pycx/common.hpp"

namespace pycx::cuda {
namespace {

template <typename T>
__device__ __forceinline__ bool gate_on(T v, T threshold) {
  if constexpr (std::is_floating_point_v<T>) return v > threshold;
  else return v != T(0);
}

template <typename T>
__device__ __forceinline__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

struct PatchShape {
  int64_t N, C, H, W;
  int64_t s_n, s_c, s_h, s_w;
  __host__ __device__ int64_t HW() const { return H * W; }
};

// Element offset of gate row `row` (channel 0).
__device__ __forceinline__ int64_t row_base(const PatchShape& s, int64_t row) {
  const int64_t hw = s.H * s.W;
  const int64_t n = row / hw, p = row % hw;
  return n * s.s_n + (p / s.W) * s.s_h + (p % s.W) * s.s_w;
}

constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / 32;

template <typename T>
__global__ void pack_warp_per_word(const T* __restrict__ x, PatchShape s, T threshold,
                                   uint64_t* __restrict__ out, int32_t* nan_flag) {
  const int lane = threadIdx.x & 31;
  const int64_t n_words = words_for_bits(s.C);
  const int64_t total = s.N * s.HW() * n_words;
  const int64_t warp0 = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int64_t warp_step = int64_t(gridDim.x) * kWarpsPerBlock;
  for (int64_t task = warp0; task < total; task += warp_step) {  // uniform across the warp
    const int64_t row = task / n_words, word = task % n_words;
    const T* base = x + row_base(s, row);
    const int64_t c0 = word * kWordBits + lane, c1 = c0 + 32;
    bool on0 = false, on1 = false, nan = false;
    if (c0 < s.C) {
      const T v = base[c0 * s.s_c];
      on0 = gate_on(v, threshold);
      nan |= is_nan(v);
    }
    if (c1 < s.C) {
      const T v = base[c1 * s.s_c];
      on1 = gate_on(v, threshold);
      nan |= is_nan(v);
    }
    const unsigned lo = __ballot_sync(0xffffffffu, on0);
    const unsigned hi = __ballot_sync(0xffffffffu, on1);
    if (std::is_floating_point_v<T> && __any_sync(0xffffffffu, nan) && lane == 0) *nan_flag = 1;
    if (lane == 0) out[task] = uint64_t(lo) | (uint64_t(hi) << 32);
  }
}

template <typename T>
__global__ void pack_thread_per_word(const T* __restrict__ x, PatchShape s, T threshold,
                                     uint64_t* __restrict__ out, int32_t* nan_flag) {
  const int64_t n_words = words_for_bits(s.C);
  const int64_t hw = s.HW();
  const int64_t total = s.N * hw * n_words;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    // t = (n * n_words + word) * hw + p: the spatial position varies fastest.
    const int64_t p = t % hw, nw = t / hw;
    const int64_t word = nw % n_words, n = nw / n_words;
    const int64_t row = n * hw + p;
    const T* base = x + row_base(s, row);
    const int64_t c_begin = word * kWordBits;
    const int64_t c_end = min(s.C, c_begin + kWordBits);
    uint64_t bits = 0;
    bool nan = false;
    for (int64_t c = c_begin; c < c_end; ++c) {
      const T v = base[c * s.s_c];
      bits |= uint64_t(gate_on(v, threshold)) << (c - c_begin);
      nan |= is_nan(v);
    }
    out[row * n_words + word] = bits;
    if (nan) *nan_flag = 1;
  }
}

template <typename T>
void launch_pack(const void* x, const PatchShape& s, double threshold, uint64_t* out,
                 int32_t* nan_flag, cudaStream_t stream) {
  const int64_t n_words = words_for_bits(s.C);
  const int64_t total = s.N * s.HW() * n_words;
  if (total == 0) return;
  const T t = static_cast<T>(threshold);
  const T* src = static_cast<const T*>(x);
  if (s.s_c == 1 || s.C == 1) {
    const unsigned blocks = blocks_for(total, kWarpsPerBlock);
    pack_warp_per_word<T><<<blocks, kThreads, 0, stream>>>(src, s, t, out, nan_flag);
    check_launch("pack_warp_per_word");
  } else {
    const unsigned blocks = blocks_for(total, kThreads);
    pack_thread_per_word<T><<<blocks, kThreads, 0, stream>>>(src, s, t, out, nan_flag);
    check_launch("pack_thread_per_word");
  }
}

__global__ void or_part_kernel(const uint64_t* __restrict__ part, int64_t n_rows,
                               int64_t part_words, int64_t offset_bits, int64_t out_words,
                               unsigned long long* out) {
  const int64_t total = n_rows * part_words;
  const int shift = static_cast<int>(offset_bits % kWordBits);
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = t / part_words, j = t % part_words;
    const uint64_t v = part[t];
    const int64_t dst = r * out_words + offset_bits / kWordBits + j;
    // Padding bits of a part are zero, so OR-ing whole words never sets a stray bit; two parts
    // may share a word, hence the atomic OR.
    if (v == 0) continue;
    atomicOr(out + dst, static_cast<unsigned long long>(v << shift));
    if (shift != 0 && offset_bits / kWordBits + j + 1 < out_words)
      atomicOr(out + dst + 1, static_cast<unsigned long long>(v >> (kWordBits - shift)));
  }
}

__global__ void unpack_kernel(const uint64_t* __restrict__ words, int64_t n_rows, int64_t n_bits,
                              uint8_t* __restrict__ bits) {
  const int64_t n_words = words_for_bits(n_bits);
  const int64_t total = n_rows * n_bits;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = t / n_bits, c = t % n_bits;
    bits[t] = static_cast<uint8_t>((words[r * n_words + c / kWordBits] >> (c % kWordBits)) & 1u);
  }
}

}  // namespace

void pack_patches(GateType type, const void* x, int64_t N, int64_t C, int64_t H, int64_t W,
                  int64_t s_n, int64_t s_c, int64_t s_h, int64_t s_w, double threshold,
                  uint64_t* out, int32_t* nan_flag, int device, void* stream) {
  DeviceGuard guard(device);
  const PatchShape s{N, C, H, W, s_n, s_c, s_h, s_w};
  const cudaStream_t st = as_stream(stream);
  switch (type) {
    case GateType::f32: return launch_pack<float>(x, s, threshold, out, nan_flag, st);
    case GateType::f64: return launch_pack<double>(x, s, threshold, out, nan_flag, st);
    case GateType::b8:
    case GateType::u8: return launch_pack<uint8_t>(x, s, threshold, out, nan_flag, st);
    case GateType::i8: return launch_pack<int8_t>(x, s, threshold, out, nan_flag, st);
    case GateType::i16: return launch_pack<int16_t>(x, s, threshold, out, nan_flag, st);
    case GateType::i32: return launch_pack<int32_t>(x, s, threshold, out, nan_flag, st);
    case GateType::i64: return launch_pack<int64_t>(x, s, threshold, out, nan_flag, st);
  }
  throw std::invalid_argument("pycx._cuda.pack_patches: unknown gate type");
}

void concat_bits(const uint64_t* const* parts, const int64_t* part_bits, int n_parts,
                 int64_t n_rows, uint64_t* out, int device, void* stream) {
  DeviceGuard guard(device);
  const cudaStream_t st = as_stream(stream);
  int64_t total_bits = 0;
  for (int i = 0; i < n_parts; ++i) total_bits += part_bits[i];
  const int64_t out_words = words_for_bits(total_bits);
  if (n_rows * out_words == 0) return;
  check(cudaMemsetAsync(out, 0, sizeof(uint64_t) * n_rows * out_words, st), "cudaMemsetAsync");
  int64_t offset = 0;
  for (int i = 0; i < n_parts; ++i) {
    const int64_t words = words_for_bits(part_bits[i]);
    if (words > 0) {
      or_part_kernel<<<blocks_for(n_rows * words, kThreads), kThreads, 0, st>>>(
          parts[i], n_rows, words, offset, out_words, reinterpret_cast<unsigned long long*>(out));
      check_launch("or_part_kernel");
    }
    offset += part_bits[i];
  }
}

void unpack_bits(const uint64_t* words, int64_t n_rows, int64_t n_bits, uint8_t* bits,
                 int device, void* stream) {
  DeviceGuard guard(device);
  if (n_rows * n_bits == 0) return;
  unpack_kernel<<<blocks_for(n_rows * n_bits, kThreads), kThreads, 0, as_stream(stream)>>>(
      words, n_rows, n_bits, bits);
  check_launch("unpack_kernel");
}

}  // namespace pycx::cuda
