#include "pycx/simd.hpp"

#include <omp.h>

#include <cstdlib>
#include <stdexcept>

namespace pycx {
namespace {

bool cpu_supports(SimdLevel level) {
  switch (level) {
    case SimdLevel::scalar:
      return true;
#if PYCX_X86
    case SimdLevel::avx2:
      // __builtin_cpu_supports also checks that the OS saves the YMM/ZMM state (XGETBV).
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt") &&
             __builtin_cpu_supports("bmi2");
    case SimdLevel::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vpopcntdq") && __builtin_cpu_supports("bmi2");
#endif
    default:
      return false;
  }
}

SimdLevel parse_level(const std::string& name) {
  if (name == "scalar") return SimdLevel::scalar;
  if (name == "avx2") return SimdLevel::avx2;
  if (name == "avx512") return SimdLevel::avx512;
  if (name == "auto" || name.empty()) return detected_simd_level();
  throw std::invalid_argument("unknown SIMD level '" + name +
                              "': expected one of scalar, avx2, avx512, auto");
}

SimdLevel initial_level() {
  const char* env = std::getenv("PYCX_SIMD");
  if (env == nullptr) return detected_simd_level();
  const SimdLevel level = parse_level(env);  // an unknown value fails the import loudly
  if (!cpu_supports(level))
    throw std::invalid_argument(std::string("PYCX_SIMD=") + env +
                                " is not supported by this CPU/build");
  return level;
}

SimdLevel& current_level() {
  static SimdLevel level = initial_level();
  return level;
}

}  // namespace

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::avx2: return "avx2";
    case SimdLevel::avx512: return "avx512";
    default: return "scalar";
  }
}

SimdLevel detected_simd_level() {
  if (cpu_supports(SimdLevel::avx512)) return SimdLevel::avx512;
  if (cpu_supports(SimdLevel::avx2)) return SimdLevel::avx2;
  return SimdLevel::scalar;
}

std::vector<std::string> compiled_simd_levels() {
#if PYCX_X86
  return {"scalar", "avx2", "avx512"};
#else
  return {"scalar"};
#endif
}

std::vector<std::string> supported_simd_levels() {
  std::vector<std::string> out;
  for (SimdLevel level : {SimdLevel::scalar, SimdLevel::avx2, SimdLevel::avx512})
    if (cpu_supports(level)) out.emplace_back(simd_level_name(level));
  return out;
}

SimdLevel active_simd_level() { return current_level(); }

void set_simd_level(const std::string& name) {
  const SimdLevel level = parse_level(name);
  if (!cpu_supports(level))
    throw std::invalid_argument("SIMD level '" + name + "' is not supported by this CPU/build");
  current_level() = level;
}

int resolve_threads(int requested) { return requested > 0 ? requested : omp_get_max_threads(); }

}  // namespace pycx
