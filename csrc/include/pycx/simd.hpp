// Runtime SIMD dispatch. Kernels are compiled with baseline x86-64 flags; ISA-specific
// variants live in their own translation units (<op>_avx2.cpp, <op>_avx512.cpp) and mark
// their functions with PYCX_TARGET_AVX2 / PYCX_TARGET_AVX512, so no instruction beyond the
// baseline is ever executed unless the CPU (and the forced level, PYCX_SIMD) allows it.
// Keeping the target attribute on functions (rather than per-file -m flags) also means that
// inline library code instantiated in those files stays baseline: the linker cannot pick an
// AVX-512 copy of a shared inline function for use on an older CPU.
#pragma once
#include <string>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#define PYCX_X86 1
#define PYCX_TARGET_AVX2 __attribute__((target("avx2,popcnt,bmi2")))
#define PYCX_TARGET_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vpopcntdq,popcnt,bmi2")))
#else
#define PYCX_X86 0
#endif

namespace pycx {

enum class SimdLevel : int { scalar = 0, avx2 = 1, avx512 = 2 };

const char* simd_level_name(SimdLevel level);
// Highest level the running CPU supports.
SimdLevel detected_simd_level();
// Levels this build contains code for (scalar always; avx2/avx512 on x86-64).
std::vector<std::string> compiled_simd_levels();
// Levels both compiled and supported by this CPU, lowest first.
std::vector<std::string> supported_simd_levels();
// The level kernels use now: PYCX_SIMD at import (if set), else the detected one.
SimdLevel active_simd_level();
// Force a level by name ("scalar", "avx2", "avx512", or "auto"); throws std::invalid_argument
// if the name is unknown or the CPU/build does not support it.
void set_simd_level(const std::string& name);

// The one dispatch rule of every kernel: the variant of an op for `level` among its AVX-512,
// AVX2 and portable versions (`simd_pick`), or only among its vector versions (`simd_vector`:
// nullptr at the scalar level, for ops whose portable path is not a function of the same
// type; the caller then runs its portable code). A variant given as nullptr (no vector
// version for this type) falls back likewise. Call them through PYCX_SIMD_PICK /
// PYCX_SIMD_VECTOR: on builds without x86 the vector variants are not compiled, and the
// macros name only the portable one (or nullptr).
template <typename Fn>
inline Fn simd_vector(SimdLevel level, Fn avx512, std::common_type_t<Fn> avx2) {
  if (level == SimdLevel::avx512) return avx512;
  if (level == SimdLevel::avx2) return avx2;
  return nullptr;
}

template <typename Fn>
inline Fn simd_pick(SimdLevel level, std::common_type_t<Fn> avx512, std::common_type_t<Fn> avx2,
                    Fn portable) {
  const Fn vector = simd_vector<Fn>(level, avx512, avx2);
  return vector != nullptr ? vector : portable;
}

#if PYCX_X86
#define PYCX_SIMD_PICK(level, avx512, avx2, portable) \
  ::pycx::simd_pick((level), (avx512), (avx2), (portable))
#define PYCX_SIMD_VECTOR(Fn, level, avx512, avx2) \
  ::pycx::simd_vector<Fn>((level), (avx512), (avx2))
#else
#define PYCX_SIMD_PICK(level, avx512, avx2, portable) ((void)(level), (portable))
#define PYCX_SIMD_VECTOR(Fn, level, avx512, avx2) ((void)(level), static_cast<Fn>(nullptr))
#endif

// Number of OpenMP threads to use: `requested` if > 0, else OpenMP's default
// (which follows OMP_NUM_THREADS).
int resolve_threads(int requested);

}  // namespace pycx
