// sdpa_example: scaled dot-product attention with attn, checked against the float64 reference.
//
// The program builds random Q, K and V in the [B, L, H, D] layout (the one FlashAttention uses),
// runs the flash forward kernel with grouped-query heads and a causal mask, compares its output
// and log-sum-exp with the textbook reference, and shows how a bad input is reported.
// It exits with 0 only when the largest error is below 1e-4.
#include <attn/core/attention_params.h>
#include <attn/core/error.h>
#include <attn/core/simd_target.h>
#include <attn/core/tensor.h>
#include <attn/kernels/attention.h>
#include <attn/ref/attention_reference.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <random>

namespace {

// Fills t with numbers drawn uniformly from [-1, 1); a fixed seed makes every run the same.
void fill_random(attn::Tensor& t, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::generate(t.data(), t.data() + t.size(), [&] { return uniform(rng); });
}

}  // namespace

int main() {
  // ---- Sizes. Eight query heads share two key/value heads (grouped-query attention): query
  // heads 0-3 read KV head 0 and heads 4-7 read KV head 1. There are fewer queries than keys, as
  // when a chunk of new tokens attends to a cache that already holds the earlier ones.
  constexpr int64_t B = 2;     // batch
  constexpr int64_t Hq = 8;    // query heads
  constexpr int64_t Hkv = 2;   // key/value heads; Hq must be a multiple of it
  constexpr int64_t Lq = 200;  // queries per sequence
  constexpr int64_t Lk = 328;  // keys per sequence
  constexpr int64_t D = 64;    // head dim of q, k, v and out

  // ---- Buffers in the [B, L, H, D] layout: the heads of one token sit next to each other.
  attn::Tensor q({B, Lq, Hq, D});
  attn::Tensor k({B, Lk, Hkv, D});
  attn::Tensor v({B, Lk, Hkv, D});
  attn::Tensor out({B, Lq, Hq, D});
  attn::Tensor lse({B, Hq, Lq});  // one log-sum-exp per query row
  fill_random(q, 1);
  fill_random(k, 2);
  fill_random(v, 3);

  // ---- Parameters. The library reads every tensor as [batch, head, row, col] through strides
  // counted in elements; a TensorView4 made by blhd() views a [B, L, H, D] buffer that way.
  // (Tensor's own view4() describes a [B, H, L, D] buffer, which is not what we allocated here.)
  attn::AttentionParams p = attn::attention_params(
      attn::TensorView4::blhd(q.data(), B, Hq, Lq, D),
      attn::TensorView4::blhd(k.data(), B, Hkv, Lk, D),
      attn::TensorView4::blhd(v.data(), B, Hkv, Lk, D),
      attn::TensorView4::blhd(out.data(), B, Hq, Lq, D), lse.data());  // lse [B, Hq, Lq]

  // Causal with bottom-right alignment (the default): query i stands at key position
  // i + (Lk - Lq), so it sees keys 0 .. i + 128 and the last query sees every key.
  // The scale is left unset, which means 1/sqrt(D).
  p.causal = true;
  p.causal_align = attn::CausalAlign::kBottomRight;

  // ---- The flash kernel: runs on the OpenMP threads (OMP_NUM_THREADS picks how many) and gives
  // bitwise the same result for any thread count.
  attn::flash_attention_forward(p);
  std::cout << "flash forward: B=" << B << " Hq=" << Hq << " Hkv=" << Hkv << " Lq=" << Lq
            << " Lk=" << Lk << " D=" << D << " causal, SIMD target " << attn::active_simd_target()
            << "\n";

  // ---- The reference: the textbook formula, step by step, in double. Its output is contiguous
  // [B, Hq, Lq, D] (head before row), so it is indexed differently from our [B, Lq, Hq, D] buffer.
  const attn::ReferenceResult ref = attn::attention_reference(p);
  double max_out_error = 0.0;
  double max_lse_error = 0.0;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < Hq; ++h) {
      for (int64_t i = 0; i < Lq; ++i) {
        const int64_t ref_row = (b * Hq + h) * Lq + i;
        for (int64_t c = 0; c < D; ++c) {
          const double got = out.data()[p.out_stride.offset(b, h, i, c)];
          max_out_error = std::max(max_out_error, std::abs(got - ref.out[ref_row * D + c]));
        }
        const double got_lse = lse.data()[p.lse_stride.offset(b, h, i, 0)];
        max_lse_error = std::max(max_lse_error, std::abs(got_lse - ref.lse[ref_row]));
      }
    }
  }
  std::cout << "out[batch 0, query 0, head 5, d 0..3] = ";
  for (int64_t c = 0; c < 4; ++c) std::cout << out.data()[p.out_stride.offset(0, 5, 0, c)] << " ";
  std::cout << "\nmax |out - reference| = " << max_out_error
            << "\nmax |lse - reference| = " << max_lse_error << "\n";

  // ---- A bad input: eight query heads cannot be shared out evenly over three KV heads. The
  // parameters are checked before anything is read or written, and every problem is reported as
  // an attn::Error whose message names the argument and the value seen.
  attn::AttentionParams bad = p;
  bad.kv_heads = 3;
  bool rejected = false;
  try {
    attn::flash_attention_forward(bad);
  } catch (const attn::Error& e) {
    rejected = true;
    std::cout << "bad input rejected: " << e.what() << "\n";
  }

  const bool ok = max_out_error < 1e-4 && max_lse_error < 1e-4 && rejected;
  std::cout << (ok ? "PASS" : "FAIL") << "\n";
  return ok ? 0 : 1;
}
