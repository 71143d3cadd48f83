// FMA-loop peak yardsticks (attn/kernels/yardstick.h), compiled once per SIMD target.
//
// Each thread runs 12 independent chains acc = a·acc + b of whole vectors: enough chains to
// cover the latency of the FMA units, so the loop runs at their throughput.

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "attn/core/simd_target.h"
#include "attn/kernels/yardstick.h"

#ifndef ATTN_KERNELS_FMA_PEAK_CONSTANTS
#define ATTN_KERNELS_FMA_PEAK_CONSTANTS
namespace attn {
// Independent FMA chains per thread: more than FMA latency × FMA units per core.
constexpr int kFmaChains = 12;
}  // namespace attn
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/fma_peak.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace attn {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Runs `iters` steps of kFmaChains FMA chains with vectors of tag d; returns a value depending on
// every chain, so that none can be optimised away. Distinct seeds keep the chains distinct.
template <class D>
float FmaChains(D d, int64_t iters, float seed) {
  using V = hn::Vec<D>;
  const V a = hn::Set(d, 1.0000001f);
  const V b = hn::Set(d, 0.9999999f);
  // Fully unrolled so that the accumulators live in registers at any optimisation level.
  V acc[kFmaChains];
#pragma GCC unroll 12
  for (int c = 0; c < kFmaChains; ++c) acc[c] = hn::Set(d, seed + 0.1f * static_cast<float>(c));
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kFmaChains; ++c) acc[c] = hn::MulAdd(a, acc[c], b);
  }
  V sum = acc[0];
  for (int c = 1; c < kFmaChains; ++c) sum = hn::Add(sum, acc[c]);
  return hn::GetLane(sum);
}

// Lanes of a full float vector of this target.
size_t FullVectorLanes() { return hn::Lanes(hn::ScalableTag<float>()); }

// The chains with full vectors of this target.
float FullVectorChains(int64_t iters, float seed) {
  return FmaChains(hn::ScalableTag<float>(), iters, seed);
}

// 256-bit vectors exist on the x86 targets from AVX2 up (a lower value is a better target).
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
#define ATTN_HAVE_256_BIT_VECTORS 1
#else
#define ATTN_HAVE_256_BIT_VECTORS 0
#endif

// Lanes of an 8-float (256-bit) vector, or 0 when this target has none.
size_t Vector256Lanes() { return ATTN_HAVE_256_BIT_VECTORS ? 8 : 0; }

// The chains with 256-bit vectors; does nothing on targets without them.
float Vector256Chains(int64_t iters, float seed) {
#if ATTN_HAVE_256_BIT_VECTORS
  return FmaChains(hn::FixedTag<float, 8>(), iters, seed);
#else
  (void)iters;
  return seed;
#endif
}

#undef ATTN_HAVE_256_BIT_VECTORS

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace attn
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn {

HWY_EXPORT(FullVectorLanes);
HWY_EXPORT(FullVectorChains);
HWY_EXPORT(Vector256Lanes);
HWY_EXPORT(Vector256Chains);

namespace {

using ChainsFn = float (*)(int64_t, float);

// About 0.2 s per repetition: 12 FMAs per step at 2 FMAs per cycle and ~3 GHz.
constexpr int64_t kIterations = 100'000'000;
constexpr int kRepetitions = 3;

// GFLOP/s of one run of `iters` steps of `chains` on `threads` threads.
double timed_run(ChainsFn chains, size_t lanes, int threads, int64_t iters) {
  std::vector<float> results(static_cast<size_t>(threads));
  const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    results[static_cast<size_t>(t)] = chains(iters, 1.0f + static_cast<float>(t));
  }
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
  volatile float sink = 0.0f;  // keeps the results alive
  for (float r : results) sink = sink + r;
  const double flops =
      2.0 * kFmaChains * static_cast<double>(lanes) * static_cast<double>(iters) * threads;
  return flops / seconds.count() * 1e-9;
}

// Median GFLOP/s of kRepetitions runs after a short warm-up that lets the clocks ramp up.
double median_gflops(ChainsFn chains, size_t lanes, int threads) {
  threads = std::max(threads, 1);
  timed_run(chains, lanes, threads, kIterations / 4);
  std::vector<double> gflops;
  for (int r = 0; r < kRepetitions; ++r) {
    gflops.push_back(timed_run(chains, lanes, threads, kIterations));
  }
  std::sort(gflops.begin(), gflops.end());
  return gflops[gflops.size() / 2];
}

}  // namespace

double fma_peak_gflops(int threads) {
  apply_simd_target_from_env();
  const size_t lanes = HWY_DYNAMIC_DISPATCH(FullVectorLanes)();  // also settles the target
  return median_gflops(&HWY_DYNAMIC_DISPATCH(FullVectorChains), lanes, threads);
}

double fma_peak_avx2_gflops(int threads) {
  apply_simd_target_from_env();
  const size_t lanes = HWY_DYNAMIC_DISPATCH(Vector256Lanes)();
  if (lanes == 0) return 0.0;
  return median_gflops(&HWY_DYNAMIC_DISPATCH(Vector256Chains), lanes, threads);
}

}  // namespace attn
#endif  // HWY_ONCE
