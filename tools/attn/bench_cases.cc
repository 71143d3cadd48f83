#include "bench_cases.h"

#include <algorithm>
#include <chrono>
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

// Fills t with values uniform in [-1, 1) from a cheap generator (splitmix64) seeded by `seed`.
void fill_uniform(Tensor& t, uint64_t seed) {
  float* x = t.data();
  for (size_t i = 0; i < t.size(); ++i) {
    uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    x[i] = static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }
}

// The 16-bit patterns of t rounded to type t16.
std::vector<uint16_t> rounded(const Tensor& t, ElementType t16) {
  std::vector<uint16_t> bits(t.size());
  for (size_t i = 0; i < t.size(); ++i) bits[i] = from_float(t.data()[i], t16);
  return bits;
}

// The inputs and outputs of one forward case, and the params that view them. With a 16-bit
// dtype, q, k, v and out are in that type (q16, k16, v16, out16), rounded from the float tensors.
struct ForwardProblem {
  Tensor q, k, v, out;
  std::vector<uint16_t> q16, k16, v16, out16;
  AttentionParams params;

  explicit ForwardProblem(const BenchShape& s)
      : q({s.batch, s.heads, s.len, s.dim}),
        k({s.batch, s.kv_heads, s.kv_len, s.dim}),
        v({s.batch, s.kv_heads, s.kv_len, s.dim_v}),
        out({s.batch, s.heads, s.len, s.dim_v}) {
    fill_uniform(q, 1);
    fill_uniform(k, 2);
    fill_uniform(v, 3);
    params = attention_params(q.view4(), k.view4(), v.view4(), out.view4());
    AttentionParams& p = params;
    p.causal = s.causal;
    p.dropout_p = s.dropout;
    p.dropout_seed = 1;
    if (s.dtype != ElementType::kF32) use_16bit(s.dtype);
    validate(p);
  }

  void use_16bit(ElementType t) {
    q16 = rounded(q, t);
    k16 = rounded(k, t);
    v16 = rounded(v, t);
    out16.assign(out.size(), 0);
    params.input_type = params.output_type = t;
    params.q16 = q16.data();
    params.k16 = k16.data();
    params.v16 = v16.data();
    params.out16 = out16.data();
    params.q = params.k = params.v = params.out = nullptr;
  }
};

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

// A forward problem with what the backward adds: the saved lse, dout and the gradients.
struct BackwardProblem {
  ForwardProblem forward;
  Tensor lse, dout, dq, dk, dv;
  std::vector<uint16_t> dout16;
  AttentionGrads grads;

  explicit BackwardProblem(const BenchShape& s)
      : forward(s),
        lse({s.batch, s.heads, s.len}),
        dout({s.batch, s.heads, s.len, s.dim_v}),
        dq({s.batch, s.heads, s.len, s.dim}),
        dk({s.batch, s.kv_heads, s.kv_len, s.dim}),
        dv({s.batch, s.kv_heads, s.kv_len, s.dim_v}) {
    fill_uniform(dout, 4);
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
      dout16 = rounded(dout, s.dtype);
      grads.dout16 = dout16.data();
      grads.dout = nullptr;
    }
  }
};

constexpr BenchCase kBenchCases[] = {
    {"forward", &measure_forward},
    {"decode", &measure_decode},
    {"backward", &measure_backward},
};

}  // namespace

std::span<const BenchCase> bench_cases() { return kBenchCases; }

double median_ms(const std::function<void()>& run, int reps, int* reps_done, int max_reps) {
  const double warm_up = seconds_of(run);
  if (reps <= 0) {
    reps = static_cast<int>(
        std::clamp(kBudgetSeconds / std::max(warm_up, 1e-9), 1.0, static_cast<double>(max_reps)));
  }
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(reps));  // no allocation between runs to split freed memory
  for (int r = 0; r < reps; ++r) ms.push_back(1e3 * seconds_of(run));
  std::sort(ms.begin(), ms.end());
  *reps_done = reps;
  const size_t n = ms.size();
  return n % 2 == 1 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
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
