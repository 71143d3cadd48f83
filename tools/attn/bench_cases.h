// The cases of `attn bench`: each builds its inputs, times its kernel and reports a Measurement.
// A new case (backward, decode, ...) is one function here and one row of kBenchCases.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "attn/core/attention_params.h"
#include "attn/infer/kv_cache.h"
#include "attn/kernels/attention.h"

namespace attn::cli {

// Sizes of one case, named as in AttentionParams.
struct BenchShape {
  int64_t batch = 1;
  int64_t heads = 8;     // Hq
  int64_t kv_heads = 8;  // Hkv
  int64_t len = 0;       // Lq
  int64_t kv_len = 0;    // Lk
  int64_t dim = 64;      // D
  int64_t dim_v = 64;    // Dv
  bool causal = false;
  float dropout = 0.0f;                     // forward and backward: attention dropout probability
  BackwardPlan plan = BackwardPlan::kAuto;  // backward only
  ElementType dtype = ElementType::kF32;    // forward, backward: q, k, v, out and dout
  // Decode only: the cache's storage dtype, layout and block size (paged).
  KvDtype kv_dtype = KvDtype::kF32;
  KvLayout layout = KvLayout::kContiguous;
  int64_t block_tokens = 16;
};

// What one case reports.
struct Measurement {
  double ms = 0.0;            // median time of one run
  double gflops = 0.0;        // useful FLOPs (unmasked pairs only) per second
  double peak_rss_mib = 0.0;  // the process's peak resident memory after the case
  int reps = 0;               // timed runs behind the median
  double kv_gbps = 0.0;       // decode: bytes of K and V read per second (each byte once); else 0
};

// A case: measures `shape` with `reps` timed runs (0: as many as fit in a couple of seconds).
using BenchCaseFn = Measurement (*)(const BenchShape& shape, int reps);

struct BenchCase {
  const char* name;
  BenchCaseFn measure;
};

// Every case, by the name that --case takes.
std::span<const BenchCase> bench_cases();

// Flash forward: B, Hq, Hkv, Lq, Lk, D, Dv and causal (bottom-right) from `shape`.
Measurement measure_forward(const BenchShape& shape, int reps);

// Decode: B sequences of Lk cached tokens, Lq (n_q) new queries each, D, Dv, Hq, Hkv and the
// cache options from `shape`; one run is one decode step.
Measurement measure_decode(const BenchShape& shape, int reps);

// Flash backward, on the same sizes, after one untimed forward; only the backward is timed. Its
// FLOPs are 2.5 × the forward's (FlashAttention's convention: the five GEMMs QKᵀ, dV, dP, dQ and
// dK, none of the recomputation counted).
Measurement measure_backward(const BenchShape& shape, int reps);

// FLOPs of the forward pass: 2·(D + Dv) per unmasked query-key pair (QKᵀ and PV).
double forward_flops(const AttentionParams& p);

// Median milliseconds of `reps` runs of `run` after one untimed warm-up; reps = 0 picks as many
// runs as fit in about 2.5 s (at least 1, at most max_reps). Sets *reps_done to the count used.
double median_ms(const std::function<void()>& run, int reps, int* reps_done, int max_reps = 30);

}  // namespace attn::cli
