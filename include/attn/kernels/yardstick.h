// Yardsticks measured in the same process as a benchmark, so that kernel figures can be reported
// as ratios that survive the clock drift of a shared machine.
//
// The FMA peaks run 12 independent chains of fused multiply-adds per thread (like the shared
// bench/fma_peak.c) on the given number of OpenMP threads and report the median of a few timed
// repetitions; each call takes about a second.
#pragma once

namespace attn {

// fp32 FMA-loop peak in GFLOP/s with full vectors of the active SIMD target, on `threads` threads.
double fma_peak_gflops(int threads);

// The same peak with 8-lane (256-bit) vectors, as the AVX2 yardstick measures it; 0 when the
// active SIMD target has no 256-bit vectors.
double fma_peak_avx2_gflops(int threads);

// Read-only memory bandwidth in GB/s: a STREAM-like sum over 512 MiB on `threads` threads.
// Temporarily raises the process's resident memory by 512 MiB.
double read_bandwidth_gbps(int threads);

}  // namespace attn
