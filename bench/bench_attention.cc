// Google Benchmark timings of the attention kernels, with the FMA-loop peak measured in the same
// run so that GFLOP/s can be read as a fraction of it.
//
//   build/release/attn_benchmarks --benchmark_counters_tabular=true
//
// Threads follow OMP_NUM_THREADS. GFLOP/s counts 2·(D + Dv) FLOPs per unmasked query-key pair.

#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdint>
#include <random>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/kernels/attention.h"
#include "attn/kernels/yardstick.h"
#include "attn/ref/attention_reference.h"

namespace attn {
namespace {

// Random inputs and an output of B=1, H heads, Lq = Lk = len, D = Dv = dim.
struct Problem {
  Tensor q, k, v, out;
  AttentionParams params;

  Problem(int64_t heads, int64_t len, int64_t dim, bool causal)
      : q({1, heads, len, dim}),
        k({1, heads, len, dim}),
        v({1, heads, len, dim}),
        out({1, heads, len, dim}) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (Tensor* t : {&q, &k, &v}) {
      for (size_t i = 0; i < t->size(); ++i) t->data()[i] = uniform(rng);
    }
    params = attention_params(q.view4(), k.view4(), v.view4(), out.view4());
    params.causal = causal;
  }

  // FLOPs of one forward pass: 2·(D + Dv) per query-key pair the mask lets through.
  double flops() const {
    const double len = static_cast<double>(params.q_len);
    const double pairs = params.causal ? len * (len + 1) / 2 : len * len;
    return 2.0 * static_cast<double>(params.q_heads) * pairs *
           static_cast<double>(params.head_dim + params.v_head_dim);
  }
};

void set_gflops_counter(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOPS"] =
      benchmark::Counter(flops_per_iteration * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Args: heads, len, dim, causal.
void BM_FlashForward(benchmark::State& state) {
  const Problem problem(state.range(0), state.range(1), state.range(2), state.range(3) != 0);
  for (auto _ : state) {
    flash_attention_forward(problem.params);
    benchmark::DoNotOptimize(problem.out.data());
    benchmark::ClobberMemory();
  }
  set_gflops_counter(state, problem.flops());
}
BENCHMARK(BM_FlashForward)
    ->ArgNames({"H", "L", "D", "causal"})
    ->ArgsProduct({{8}, {512, 2048}, {64, 128}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// A Problem with what the backward adds: the forward's lse (the forward runs once), a random dO
// and the gradient buffers.
struct BackwardProblem : Problem {
  Tensor lse, dout, dq, dk, dv;
  AttentionGrads grads;

  BackwardProblem(int64_t heads, int64_t len, int64_t dim, bool causal, BackwardPlan plan)
      : Problem(heads, len, dim, causal),
        lse({1, heads, len}),
        dout({1, heads, len, dim}),
        dq({1, heads, len, dim}),
        dk({1, heads, len, dim}),
        dv({1, heads, len, dim}) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (size_t i = 0; i < dout.size(); ++i) dout.data()[i] = uniform(rng);
    params.lse = lse.data();
    params.lse_stride = {heads * len, len, 1, 0};
    flash_attention_forward(params);
    grads.dout = dout.data();
    grads.dq = dq.data();
    grads.dk = dk.data();
    grads.dv = dv.data();
    grads.dout_stride = grads.dq_stride = grads.dk_stride = grads.dv_stride = q.strides4();
    grads.plan = plan;
  }
};

// Args: heads, len, dim, causal, fused (0: BackwardPlan::kSplit, 1: kFused). GFLOP/s count 2.5×
// the forward's FLOPs (FlashAttention's convention).
void BM_FlashBackward(benchmark::State& state) {
  const BackwardPlan plan = state.range(4) != 0 ? BackwardPlan::kFused : BackwardPlan::kSplit;
  const BackwardProblem problem(state.range(0), state.range(1), state.range(2), state.range(3) != 0,
                                plan);
  for (auto _ : state) {
    flash_attention_backward(problem.params, problem.grads);
    benchmark::DoNotOptimize(problem.dq.data());
    benchmark::ClobberMemory();
  }
  set_gflops_counter(state, 2.5 * problem.flops());
}
BENCHMARK(BM_FlashBackward)
    ->ArgNames({"H", "L", "D", "causal", "fused"})
    ->ArgsProduct({{8}, {2048}, {64, 128}, {0, 1}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Args: heads, len, dim. The double-precision textbook reference, for scale.
void BM_Reference(benchmark::State& state) {
  const Problem problem(state.range(0), state.range(1), state.range(2), false);
  for (auto _ : state) {
    ReferenceResult r = attention_reference(problem.params);
    benchmark::DoNotOptimize(r.out.data());
  }
  set_gflops_counter(state, problem.flops());
}
BENCHMARK(BM_Reference)
    ->ArgNames({"H", "L", "D"})
    ->Args({2, 128, 64})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The in-run yardsticks: FMA-loop peak of the active SIMD target and of 256-bit vectors.
void BM_FmaPeak(benchmark::State& state) {
  const int threads = omp_get_max_threads();
  double gflops = 0.0;
  for (auto _ : state) gflops = fma_peak_gflops(threads);
  state.counters["GFLOPS"] = gflops;
  state.counters["threads"] = threads;
}
BENCHMARK(BM_FmaPeak)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_FmaPeak256(benchmark::State& state) {
  const int threads = omp_get_max_threads();
  double gflops = 0.0;
  for (auto _ : state) gflops = fma_peak_avx2_gflops(threads);
  state.counters["GFLOPS"] = gflops;
  state.counters["threads"] = threads;
}
BENCHMARK(BM_FmaPeak256)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// Read-only memory bandwidth, for the memory-bound kernels.
void BM_ReadBandwidth(benchmark::State& state) {
  const int threads = omp_get_max_threads();
  double gbps = 0.0;
  for (auto _ : state) gbps = read_bandwidth_gbps(threads);
  state.counters["GBps"] = gbps;
}
BENCHMARK(BM_ReadBandwidth)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace attn

BENCHMARK_MAIN();
