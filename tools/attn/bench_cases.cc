#include "bench_cases.h"

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "attn/core/element_type.h"
#include "attn/core/peak_rss.h"
#include "attn/core/tensor.h"
#include "attn/kernels/attention.h"
#include "attn/kernels/decode.h"

namespace attn::cli {

namespace {

constexpr double kBudgetSeconds = 2.5;

// Seconds taken by one call of `run`.
double seconds_of(const std::function<void()>& run) {
  const auto start = std::chrono::steady_clock::now();
  run();
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
  return seconds.count();
}

// The next value uniform in [-1, 1) of a cheap generator (splitmix64) whose state is `seed`.
float next_uniform(uint64_t& seed) {
  uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

// Fills t with uniform values in [-1, 1) from the generator seeded by `seed`.
void fill_uniform(Tensor& t, uint64_t seed) {
  for (size_t i = 0; i < t.size(); ++i) t.data()[i] = next_uniform(seed);
}

// The values fill_uniform would give a tensor of n elements, rounded to type t16 (bit patterns).
std::vector<uint16_t> uniform_bits(size_t n, uint64_t seed, ElementType t16) {
  std::vector<uint16_t> bits(n);
  for (uint16_t& b : bits) b = from_float(next_uniform(seed), t16);
  return bits;
}

// A KV cache of B sequences of Lk random tokens, and Lq new random queries per sequence.
struct DecodeProblem {
  KvCache cache;
  Tensor q, out;
  DecodeParams params;

  static KvCacheConfig config(const BenchShape& s) {
    KvCacheConfig c;
    c.batch = s.batch;
    c.kv_heads = s.kv_heads;
    c.head_dim = s.dim;
    c.v_head_dim = s.dim_v;
    c.dtype = s.kv_dtype;
    c.layout = s.layout;
    c.capacity = s.layout == KvLayout::kContiguous ? s.kv_len : 0;
    c.block_tokens = s.block_tokens;
    return c;
  }

  explicit DecodeProblem(const BenchShape& s)
      : cache(config(s)),
        q({s.batch, s.len, s.heads, s.dim}),
        out({s.batch, s.len, s.heads, s.dim_v}) {
    constexpr int64_t kPiece = 1024;  // tokens generated and appended at a time
    for (int64_t b = 0; b < s.batch; ++b) {
      for (int64_t t = 0; t < s.kv_len; t += kPiece) {
        const int64_t n = std::min(kPiece, s.kv_len - t);
        Tensor k({n, s.kv_heads, s.dim}), v({n, s.kv_heads, s.dim_v});
        fill_uniform(k, 2 + 7 * static_cast<uint64_t>(b * s.kv_len + t));
        fill_uniform(v, 3 + 7 * static_cast<uint64_t>(b * s.kv_len + t));
        cache.append(b, n, k.data(), v.data());
      }
    }
    fill_uniform(q, 1);
    params = decode_params(cache.view(), q.data(), s.heads, s.len, out.data());
    validate(params);
  }
};

// The forward params of a bench problem.
AttentionParams& forward_params(ForwardProblem& p) { return p.params; }
AttentionParams& forward_params(BackwardProblem& p) { return p.forward.params; }

// One long sequence and kVarlenShortCount short ones, packed ([1, H, total, D]) and padded
// ([n, H, Lq, D] with key lengths), with the params of both. Problem: ForwardProblem, or
// BackwardProblem for the backward's buffers as well.
template <typename Problem>
struct VarlenProblem {
  std::vector<int32_t> cu_seqlens;
  std::vector<int64_t> key_lengths;
  Problem packed, padded;
  AttentionParams packed_params, padded_params;

  static std::vector<int32_t> offsets(const BenchShape& s) {
    std::vector<int32_t> cu{0, static_cast<int32_t>(s.len)};
    for (int64_t i = 0; i < kVarlenShortCount; ++i) {
      cu.push_back(cu.back() + static_cast<int32_t>(s.kv_len));
    }
    return cu;
  }
  static BenchShape packed_shape(const BenchShape& s) {
    BenchShape p = s;
    p.batch = 1;
    p.len = p.kv_len = s.len + kVarlenShortCount * s.kv_len;
    return p;
  }
  static BenchShape padded_shape(const BenchShape& s) {
    BenchShape p = s;
    p.batch = 1 + kVarlenShortCount;
    p.kv_len = s.len;
    return p;
  }

  explicit VarlenProblem(const BenchShape& s)
      : cu_seqlens(offsets(s)),
        key_lengths(static_cast<size_t>(1 + kVarlenShortCount), s.kv_len),
        packed(packed_shape(s)),
        padded(padded_shape(s)) {
    key_lengths[0] = s.len;
    packed_params = forward_params(packed);
    packed_params.cu_seqlens_q = packed_params.cu_seqlens_k = cu_seqlens.data();
    packed_params.sequences = 1 + kVarlenShortCount;
    padded_params = forward_params(padded);
    padded_params.key_lengths = key_lengths.data();
    validate(packed_params);
    validate(padded_params);
  }
};

constexpr BenchCase kBenchCases[] = {
    {"forward", &measure_forward},
    {"decode", &measure_decode},
    {"backward", &measure_backward},
    {"varlen", &measure_varlen},
    {"varlen-backward", &measure_varlen_backward},
};

}  // namespace

std::span<const BenchCase> bench_cases() { return kBenchCases; }

// With a 16-bit dtype the fp32 tensors give the shapes only: never written, and then released.
ForwardProblem::ForwardProblem(const BenchShape& s)
    : q({s.batch, s.heads, s.len, s.dim}, Tensor::Uninitialized{}),
      k({s.batch, s.kv_heads, s.kv_len, s.dim}, Tensor::Uninitialized{}),
      v({s.batch, s.kv_heads, s.kv_len, s.dim_v}, Tensor::Uninitialized{}),
      out({s.batch, s.heads, s.len, s.dim_v}, Tensor::Uninitialized{}) {
  if (s.dtype == ElementType::kF32) {
    fill_uniform(q, 1);
    fill_uniform(k, 2);
    fill_uniform(v, 3);
  }
  params = attention_params(q.view4(), k.view4(), v.view4(), out.view4());
  AttentionParams& p = params;
  p.causal = s.causal;
  p.dropout_p = s.dropout;
  p.dropout_seed = 1;
  if (s.dtype != ElementType::kF32) use_16bit(s.dtype);
  validate(p);
}

void ForwardProblem::use_16bit(ElementType t) {
  q16 = uniform_bits(q.size(), 1, t);
  k16 = uniform_bits(k.size(), 2, t);
  v16 = uniform_bits(v.size(), 3, t);
  out16.assign(out.size(), 0);
  params.input_type = params.output_type = t;
  params.q16 = q16.data();
  params.k16 = k16.data();
  params.v16 = v16.data();
  params.out16 = out16.data();
  params.q = params.k = params.v = params.out = nullptr;
  for (Tensor* t : {&q, &k, &v, &out}) *t = Tensor();
}

BackwardProblem::BackwardProblem(const BenchShape& s)
    : forward(s),
      lse({s.batch, s.heads, s.len}),
      dout({s.batch, s.heads, s.len, s.dim_v}, Tensor::Uninitialized{}),
      dq({s.batch, s.heads, s.len, s.dim}),
      dk({s.batch, s.kv_heads, s.kv_len, s.dim}),
      dv({s.batch, s.kv_heads, s.kv_len, s.dim_v}) {
  if (s.dtype == ElementType::kF32) fill_uniform(dout, 4);
  forward.params.lse = lse.data();
  forward.params.lse_stride = {s.heads * s.len, s.len, 1, 0};
  grads.dout = dout.data();
  grads.dout_stride = dout.strides4();
  grads.dq = dq.data();
  grads.dq_stride = dq.strides4();
  grads.dk = dk.data();
  grads.dk_stride = dk.strides4();
  grads.dv = dv.data();
  grads.dv_stride = dv.strides4();
  grads.plan = s.plan;
  if (s.dtype != ElementType::kF32) {
    dout16 = uniform_bits(dout.size(), 4, s.dtype);
    grads.dout16 = dout16.data();
    grads.dout = nullptr;
    dout = Tensor();
  }
}

int reps_in_budget(double run_seconds, int max_reps) {
  return static_cast<int>(
      std::clamp(kBudgetSeconds / std::max(run_seconds, 1e-9), 1.0, static_cast<double>(max_reps)));
}

double median(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  const size_t n = x.size();
  return n % 2 == 1 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

double median_ms(const std::function<void()>& run, int reps, int* reps_done, int max_reps) {
  const double warm_up = seconds_of(run);
  if (reps <= 0) reps = reps_in_budget(warm_up, max_reps);
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(reps));  // no allocation between runs to split freed memory
  for (int r = 0; r < reps; ++r) ms.push_back(1e3 * seconds_of(run));
  *reps_done = reps;
  return median(std::move(ms));
}

double forward_flops(const AttentionParams& p) {
  double pairs = 0.0;
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t i = 0; i < p.q_len; ++i) {
      const KeyRange keys = visible_keys(p, b, i);
      pairs += static_cast<double>(keys.end - keys.begin);
    }
  }
  return 2.0 * static_cast<double>(p.q_heads) * pairs *
         static_cast<double>(p.head_dim + p.v_head_dim);
}

Measurement measure_forward(const BenchShape& shape, int reps) {
  reset_peak_rss();
  const ForwardProblem problem(shape);
  Measurement m;
  m.ms = median_ms([&] { flash_attention_forward(problem.params); }, reps, &m.reps);
  m.gflops = forward_flops(problem.params) / (m.ms * 1e-3) * 1e-9;
  m.peak_rss_mib = static_cast<double>(peak_rss_bytes()) / (1024.0 * 1024.0);
  return m;
}

Measurement measure_decode(const BenchShape& shape, int reps) {
  reset_peak_rss();
  const DecodeProblem problem(shape);
  Measurement m;
  m.ms = median_ms([&] { decode_attention(problem.params); }, reps, &m.reps, 500);
  // Query i of n_q sees Lk − n_q + i + 1 keys; each pair costs 2·(D + Dv) FLOPs per query head.
  const int64_t n_q = shape.len, lk = shape.kv_len;
  double pairs = 0.0;
  for (int64_t i = 0; i < n_q; ++i)
    pairs += static_cast<double>(std::max<int64_t>(0, lk - n_q + i + 1));
  const double flops =
      2.0 * static_cast<double>(shape.batch * shape.heads * (shape.dim + shape.dim_v)) * pairs;
  const double bytes = static_cast<double>(shape.batch * lk * problem.cache.bytes_per_token());
  m.gflops = flops / (m.ms * 1e-3) * 1e-9;
  m.kv_gbps = bytes / (m.ms * 1e-3) * 1e-9;
  m.peak_rss_mib = static_cast<double>(peak_rss_bytes()) / (1024.0 * 1024.0);
  return m;
}

// Times the packed, padded and one-by-one runs in turn, run after run, so that the machine's
// drift falls on all three alike; their medians go to m.ms, m.padded_ms and m.alone_ms.
void time_in_turn(const std::function<void()> (&runs)[3], int reps, Measurement& m) {
  double warm_up = 0.0;
  for (const auto& run : runs) warm_up += seconds_of(run);
  if (reps <= 0) reps = static_cast<int>(std::clamp(kBudgetSeconds / warm_up, 3.0, 15.0));
  std::vector<double> ms[3];
  for (int r = 0; r < reps; ++r) {
    for (int i = 0; i < 3; ++i) ms[i].push_back(1e3 * seconds_of(runs[i]));
  }
  m.reps = reps;
  m.ms = median(std::move(ms[0]));
  m.padded_ms = median(std::move(ms[1]));
  m.alone_ms = median(std::move(ms[2]));
}

// FLOPs of the forward of every packed sequence of p.
double packed_forward_flops(const AttentionParams& p) {
  double flops = 0.0;
  for (int64_t s = 0; s < p.sequences; ++s) flops += forward_flops(sequence_params(p, s));
  return flops;
}

Measurement measure_varlen(const BenchShape& shape, int reps) {
  reset_peak_rss();
  const VarlenProblem<ForwardProblem> problem(shape);
  const AttentionParams& p = problem.packed_params;
  const std::function<void()> runs[3] = {[&] { flash_attention_forward(p); },
                                         [&] { flash_attention_forward(problem.padded_params); },
                                         [&] {
                                           for (int64_t s = 0; s < p.sequences; ++s)
                                             flash_attention_forward(sequence_params(p, s));
                                         }};
  Measurement m;
  time_in_turn(runs, reps, m);
  m.gflops = packed_forward_flops(p) / (m.ms * 1e-3) * 1e-9;
  m.peak_rss_mib = static_cast<double>(peak_rss_bytes()) / (1024.0 * 1024.0);
  return m;
}

Measurement measure_varlen_backward(const BenchShape& shape, int reps) {
  reset_peak_rss();
  VarlenProblem<BackwardProblem> problem(shape);
  const AttentionParams& p = problem.packed_params;
  const AttentionGrads& g = problem.packed.grads;
  flash_attention_forward(p);  // once: the backward needs out and lse
  flash_attention_forward(problem.padded_params);
  const std::function<void()> runs[3] = {
      [&] { flash_attention_backward(p, g); },
      [&] { flash_attention_backward(problem.padded_params, problem.padded.grads); },
      [&] {
        for (int64_t s = 0; s < p.sequences; ++s) {
          flash_attention_backward(sequence_params(p, s), sequence_grads(p, g, s));
        }
      }};
  Measurement m;
  time_in_turn(runs, reps, m);
  m.gflops = 2.5 * packed_forward_flops(p) / (m.ms * 1e-3) * 1e-9;
  m.peak_rss_mib = static_cast<double>(peak_rss_bytes()) / (1024.0 * 1024.0);
  return m;
}

Measurement measure_backward(const BenchShape& shape, int reps) {
  reset_peak_rss();
  const BackwardProblem problem(shape);
  flash_attention_forward(problem.forward.params);  // once: the backward needs out and lse
  Measurement m;
  m.ms = median_ms([&] { flash_attention_backward(problem.forward.params, problem.grads); }, reps,
                   &m.reps);
  m.gflops = 2.5 * forward_flops(problem.forward.params) / (m.ms * 1e-3) * 1e-9;
  m.peak_rss_mib = static_cast<double>(peak_rss_bytes()) / (1024.0 * 1024.0);
  return m;
}

}  // namespace attn::cli
