// The cases of `attn bench`: each builds its inputs, times its kernel and reports a Measurement.
// A new case (backward, decode, ...) is one function here and one row of kBenchCases.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "attn/core/attention_params.h"
#include "attn/core/tensor.h"
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
  double padded_ms = 0.0;     // varlen: the same sequences as a zero-padded batch; else 0
  double alone_ms = 0.0;      // varlen: each sequence run alone, one call after another; else 0
};

// A case: measures `shape` with `reps` timed runs (0: as many as fit in a couple of seconds).
using BenchCaseFn = Measurement (*)(const BenchShape& shape, int reps);

struct BenchCase {
  const char* name;
  BenchCaseFn measure;
};

// The inputs (uniform in [-1, 1), fixed seeds) and outputs of a forward case of `shape`, and the
// params that view them: causal (bottom-right) and dropout from `shape`, lse unset. With a
// 16-bit dtype, q, k, v and out are in that type only (q16, k16, v16, out16; the same seeds),
// and the float tensors are empty.
struct ForwardProblem {
  Tensor q, k, v, out;
  std::vector<uint16_t> q16, k16, v16, out16;
  AttentionParams params;

  explicit ForwardProblem(const BenchShape& shape);

 private:
  void use_16bit(ElementType t);
};

// A forward problem with what the backward adds: the saved lse, dout and the gradients.
struct BackwardProblem {
  ForwardProblem forward;
  Tensor lse, dout, dq, dk, dv;
  std::vector<uint16_t> dout16;
  AttentionGrads grads;

  explicit BackwardProblem(const BenchShape& shape);
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

// Flash forward of packed sequences (cu_seqlens): one sequence of Lq tokens beside
// kVarlenShortCount sequences of Lk tokens each, Hq, Hkv, D, Dv and causal from `shape`. Also
// times the same sequences as a batch padded to Lq (key lengths set, so the padded keys are
// skipped but the padded queries are not) and each sequence run alone, for the ratios.
Measurement measure_varlen(const BenchShape& shape, int reps);
// The same for the flash backward (after one untimed forward of each), with the plan of
// shape.plan; FLOPs 2.5 × the forward's, as measure_backward.
Measurement measure_varlen_backward(const BenchShape& shape, int reps);
inline constexpr int64_t kVarlenShortCount = 60;

// FLOPs of the forward pass: 2·(D + Dv) per unmasked query-key pair (QKᵀ and PV).
double forward_flops(const AttentionParams& p);

// Median milliseconds of `reps` runs of `run` after one untimed warm-up; reps = 0 picks as many
// runs as fit in about 2.5 s (at least 1, at most max_reps). Sets *reps_done to the count used.
double median_ms(const std::function<void()>& run, int reps, int* reps_done, int max_reps = 30);

// The runs of `run_seconds` each that fit in about 2.5 s: at least 1, at most max_reps.
int reps_in_budget(double run_seconds, int max_reps = 30);

// The median of x (the mean of the middle two when x has an even size); x must not be empty.
double median(std::vector<double> x);

}  // namespace attn::cli
