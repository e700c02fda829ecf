// AVX512 builds of the gate sampler's row loops (float32): the shared row bodies of
// pycx/gate_mh.hpp, vectorised by the compiler for this ISA (branch-free exp and log1p).
#include "pycx/gate_mh.hpp"
#include "pycx/simd.hpp"

#if PYCX_X86
namespace pycx::simd_impl {

PYCX_GATE_MH_ROW_LOOPS(avx512, PYCX_TARGET_AVX512)

}  // namespace pycx::simd_impl
#endif
