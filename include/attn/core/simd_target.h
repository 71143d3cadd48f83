// SIMD target selection for the kernels.
//
// The kernels are compiled for several instruction sets (AVX-512, AVX2, SSE4 and a portable
// scalar fallback) and the best one the CPU supports is chosen at run time. Setting the
// environment variable ATTN_SIMD_TARGET (avx3, avx2, sse4 or scalar) before the first kernel
// call, or calling force_simd_target, restricts the choice to that target, so the tests can run
// every code path on one machine.
#pragma once

#include <string>
#include <vector>

namespace attn {

// Targets compiled into the library that this CPU can run, best first: e.g. {"avx3", "avx2", ...}.
std::vector<std::string> supported_simd_targets();

// The target the kernels dispatch to now.
std::string active_simd_target();

// Restricts dispatch to `name` (one of supported_simd_targets()); "" restores the best target.
// Throws attn::Error for an unknown or unsupported name.
void force_simd_target(const std::string& name);

// Applies ATTN_SIMD_TARGET once; called by every kernel entry point.
void apply_simd_target_from_env();

}  // namespace attn
