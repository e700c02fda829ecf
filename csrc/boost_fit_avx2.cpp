// AVX2 build of the booster's histogram loop (pycx/boost_fit.hpp), vectorised by the compiler.
#include "pycx/boost_fit.hpp"
#include "pycx/simd.hpp"

#if PYCX_X86
namespace pycx::simd_impl {

PYCX_BOOST_FIT_HIST(avx2, PYCX_TARGET_AVX2)

}  // namespace pycx::simd_impl
#endif
