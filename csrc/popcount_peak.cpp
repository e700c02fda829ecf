#include "pycx/popcount_peak.hpp"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "pycx/kde_sums.hpp"
#include "pycx/simd.hpp"

namespace pycx {

double xor_popcount_peak(double seconds, int threads) {
  const SimdLevel level = active_simd_level();
  const BlockShape shape = block_shape(level);
  const BlockKernel kernel = block_kernel(level);
  // 32 words per row: A rows plus one B panel are at most 9 KiB, well inside L1.
  constexpr int64_t kWords = 32;
  constexpr int kCallsPerCheck = 256;
  const int n_threads = resolve_threads(threads);
  std::vector<double> pairs_done(static_cast<size_t>(n_threads), 0.0);
  double elapsed = 0.0;
#pragma omp parallel num_threads(n_threads)
  {
    const int id = omp_get_thread_num();
    std::vector<uint64_t> a(static_cast<size_t>(shape.rows_a * kWords));
    std::vector<uint64_t> panel(static_cast<size_t>(shape.rows_b * kWords));
    uint64_t x = 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(id + 1);
    for (auto* v : {&a, &panel})
      for (auto& word : *v) word = (x = x * 6364136223846793005ULL + 1442695040888963407ULL);
    std::vector<const uint64_t*> rows;
    for (int i = 0; i < shape.rows_a; ++i) rows.push_back(a.data() + i * kWords);
    std::vector<int64_t> dist(static_cast<size_t>(shape.rows_a * shape.rows_b));
    int64_t sink = 0, calls = 0;
#pragma omp barrier
    const double start = omp_get_wtime();
    double now = start;
    do {
      for (int c = 0; c < kCallsPerCheck; ++c) {
        kernel(rows.data(), panel.data(), kWords, dist.data());
        sink += dist[c % dist.size()];  // keeps every call observable
      }
      calls += kCallsPerCheck;
      now = omp_get_wtime();
    } while (now - start < seconds);
    pairs_done[id] = static_cast<double>(calls) * shape.rows_a * shape.rows_b * kWords +
                     (sink == -1 ? 1.0 : 0.0);
#pragma omp barrier
#pragma omp single
    elapsed = omp_get_wtime() - start;  // the slowest thread's finish
  }
  double total = 0.0;
  for (double p : pairs_done) total += p;
  return total / std::max(elapsed, 1e-9);
}

}  // namespace pycx
