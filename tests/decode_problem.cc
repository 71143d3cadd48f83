#include "decode_problem.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "attn/ref/attention_reference.h"
#include "test_util.h"

namespace attn::testing {

std::string DecodeSpec::describe() const {
  std::ostringstream s;
  s << "Hq=" << q_heads << " Hkv=" << kv_heads << " D=" << head_dim << " Dv=" << v_head_dim
    << " n_q=" << q_len << " lengths=";
  for (int64_t n : lengths) s << n << ",";
  s << " dtype=" << static_cast<int>(dtype)
    << (layout == KvLayout::kPaged ? " paged/" + std::to_string(block_tokens) : " contiguous")
    << (rope ? " rope" : "") << " sinks=" << sinks << " window=" << window << " softcap=" << softcap
    << " seed=" << seed;
  return s.str();
}

std::vector<int64_t> kept_positions(int64_t length, int64_t sinks, int64_t window) {
  std::vector<int64_t> positions;
  for (int64_t p = 0; p < length; ++p) {
    if (window == 0 || p < sinks || p >= std::max(sinks, length - window)) positions.push_back(p);
  }
  return positions;
}

namespace {

// Multiplies x [n, dim] by factors that vary with the token and the stretch of 8 values.
void make_uneven(std::vector<float>& x, int64_t dim, uint64_t seed) {
  constexpr float kFactors[] = {0.05f, 0.3f, 1.0f, 4.0f};
  for (size_t i = 0; i < x.size(); ++i) {
    const uint64_t stretch = i / static_cast<size_t>(dim) * 131 + i % dim / 8;
    x[i] *= kFactors[(stretch * 2654435761u + seed) % 4];
  }
}

KvCacheConfig cache_config(const DecodeSpec& s) {
  KvCacheConfig c;
  c.batch = static_cast<int64_t>(s.lengths.size());
  c.kv_heads = s.kv_heads;
  c.head_dim = s.head_dim;
  c.v_head_dim = s.v_head_dim;
  c.dtype = s.dtype;
  c.layout = s.layout;
  c.block_tokens = s.block_tokens;
  c.rope = s.rope;
  c.sink_tokens = s.sinks;
  c.window_tokens = s.window;
  if (s.layout == KvLayout::kContiguous && s.window == 0) {
    c.capacity = std::max<int64_t>(1, *std::max_element(s.lengths.begin(), s.lengths.end()));
  }
  return c;
}

}  // namespace

DecodeProblem::DecodeProblem(const DecodeSpec& spec) : spec_(spec) {
  const DecodeSpec& s = spec_;
  cache_ = std::make_unique<KvCache>(cache_config(s));
  const int64_t B = static_cast<int64_t>(s.lengths.size());
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = s.lengths[b];
    raw_k_.push_back(
        random_floats(n * s.kv_heads * s.head_dim, s.seed * 11 + b, -s.magnitude, s.magnitude));
    raw_v_.push_back(random_floats(n * s.kv_heads * s.v_head_dim, s.seed * 13 + b));
    if (s.uneven) {
      make_uneven(raw_k_[b], s.head_dim, s.seed);
      make_uneven(raw_v_[b], s.v_head_dim, s.seed + 1);
    }
    // A prefill, then the last tokens one at a time, as in generation.
    const int64_t prefill = std::max<int64_t>(0, n - 5);
    cache_->append(b, prefill, raw_k_[b].data(), raw_v_[b].data());
    for (int64_t t = prefill; t < n; ++t) {
      cache_->append(b, 1, raw_k_[b].data() + t * s.kv_heads * s.head_dim,
                     raw_v_[b].data() + t * s.kv_heads * s.v_head_dim);
    }
  }
  q_ = random_floats(B * s.q_len * s.q_heads * s.head_dim, s.seed * 17, -s.magnitude, s.magnitude);
  for (const DecodeSpec::Poison& x : s.poison) {
    q_[((x.seq * s.q_len + x.token) * s.q_heads) * s.head_dim + x.col] = x.value;
  }
  if (s.rope) {
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t i = 0; i < s.q_len; ++i) {
        apply_rope(q_.data() + (b * s.q_len + i) * s.q_heads * s.head_dim, s.q_heads, s.head_dim,
                   std::max<int64_t>(0, s.lengths[b] - s.q_len + i));
      }
    }
  }
  out_.assign(B * s.q_len * s.q_heads * s.v_head_dim, NAN);
  lse_.assign(B * s.q_len * s.q_heads, NAN);
}

DecodeParams DecodeProblem::params() {
  DecodeParams p = decode_params(cache_->view(), q_.data(), spec_.q_heads, spec_.q_len, out_.data(),
                                 lse_.data());
  p.scale = spec_.scale;
  p.softcap = spec_.softcap;
  return p;
}

const std::vector<float>& DecodeProblem::run() {
  decode_attention(params());
  return out_;
}

AttentionParams DecodeProblem::reference_params() {
  const DecodeSpec& s = spec_;
  const int64_t B = static_cast<int64_t>(s.lengths.size());
  std::vector<std::vector<int64_t>> kept;
  int64_t lk = 1;
  for (int64_t b = 0; b < B; ++b) {
    kept.push_back(kept_positions(s.lengths[b], s.sinks, s.window));
    lk = std::max<int64_t>(lk, static_cast<int64_t>(kept.back().size()));
  }
  const int64_t H = s.kv_heads, D = s.head_dim, Dv = s.v_head_dim;
  ref_k_.assign(B * H * lk * D, 0.0f);
  ref_v_.assign(B * H * lk * Dv, 0.0f);
  key_lengths_.clear();
  std::vector<float> token(H * D);
  for (int64_t b = 0; b < B; ++b) {
    key_lengths_.push_back(static_cast<int64_t>(kept[b].size()));
    for (int64_t t = 0; t < key_lengths_.back(); ++t) {
      const int64_t pos = kept[b][t];
      std::copy_n(raw_k_[b].data() + pos * H * D, H * D, token.data());
      if (s.rope) apply_rope(token.data(), H, D, pos);
      for (int64_t h = 0; h < H; ++h) {
        std::copy_n(token.data() + h * D, D, ref_k_.data() + ((b * H + h) * lk + t) * D);
        std::copy_n(raw_v_[b].data() + (pos * H + h) * Dv, Dv,
                    ref_v_.data() + ((b * H + h) * lk + t) * Dv);
      }
    }
  }
  ref_out_.assign(B * s.q_heads * s.q_len * Dv, 0.0f);
  AttentionParams p = attention_params(
      ConstTensorView4::blhd(q_.data(), B, s.q_heads, s.q_len, D),
      TensorView4::bhld(ref_k_.data(), B, H, lk, D), TensorView4::bhld(ref_v_.data(), B, H, lk, Dv),
      TensorView4::bhld(ref_out_.data(), B, s.q_heads, s.q_len, Dv));
  p.scale = s.scale;
  p.softcap = s.softcap;
  p.causal = true;
  p.key_lengths = key_lengths_.data();
  return p;
}

std::vector<float> DecodeProblem::to_bhld(const std::vector<float>& x, int64_t dim) const {
  const int64_t B = static_cast<int64_t>(spec_.lengths.size()), H = spec_.q_heads, n = spec_.q_len;
  std::vector<float> y;
  y.reserve(x.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < dim; ++c) y.push_back(x[((b * n + i) * H + h) * dim + c]);
  return y;
}

std::string check_decode_against_reference(DecodeProblem& problem) {
  problem.run();
  const AttentionParams ref_params = problem.reference_params();
  const ReferenceResult ref = attention_reference(ref_params);
  const std::vector<float> naive = attention_naive_fp32(ref_params);
  const double err = max_abs_diff(problem.to_bhld(problem.out(), ref_params.v_head_dim), ref.out);
  const double naive_err = max_abs_diff(naive, ref.out);
  std::ostringstream why;
  if (!(err <= 2.0 * naive_err + 1e-6)) {
    why << "output error " << err << " > 2 x naive fp32 error " << naive_err << "; ";
  }
  const std::vector<float> lse = problem.to_bhld(problem.lse(), 1);
  for (size_t r = 0; r < ref.lse.size(); ++r) {
    const double got = lse[r], want = ref.lse[r];
    const bool ok =
        std::isinf(want) ? got == want : std::abs(got - want) <= 1e-5 * (1 + std::abs(want));
    if (!ok) {
      why << "lse[" << r << "] = " << got << ", want " << want << "; ";
      break;
    }
  }
  const std::string problems = why.str();
  return problems.empty() ? "" : problems + problem.spec().describe();
}

}  // namespace attn::testing
