#include "attention_problem.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

#include "attn/kernels/attention.h"
#include "test_util.h"

namespace attn::testing {

std::string ProblemSpec::describe() const {
  std::ostringstream s;
  s << "B=" << batch << " Hq=" << q_heads << " Hkv=" << kv_heads << " Lq=" << q_len
    << " Lk=" << kv_len << " D=" << head_dim << " Dv=" << v_head_dim << (blhd ? " blhd" : "")
    << (causal ? (align == CausalAlign::kTopLeft ? " causal-tl" : " causal-br") : "") << " window=("
    << window_left << "," << window_right << ")"
    << " softcap=" << softcap << (alibi ? " alibi" : "") << (key_lengths ? " key_lengths" : "")
    << " bool_mask=" << static_cast<int>(bool_mask)
    << " add_mask=" << static_cast<int>(additive_mask) << " dropout=" << dropout_p << "/"
    << dropout_seed << " starts=(" << query_start << "," << key_start << ") mag=" << magnitude
    << " seed=" << seed;
  if (!cu_seqlens_q.empty()) {
    s << " cu_q=";
    for (int32_t x : cu_seqlens_q) s << x << ",";
    s << " cu_k=";
    for (int32_t x : cu_seqlens_k) s << x << ",";
  }
  if (scale) s << " scale=" << *scale;
  return s.str();
}

Strides4 layout_strides(const ProblemSpec& s, int64_t heads, int64_t len, int64_t dim) {
  return s.blhd ? blhd_strides(heads, len, dim) : bhld_strides(heads, len, dim);
}

std::vector<float> gather_bhld(const float* x, const Strides4& st, int64_t batch, int64_t heads,
                               int64_t len, int64_t dim) {
  std::vector<float> out;
  out.reserve(static_cast<size_t>(batch * heads * len * dim));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < len; ++i)
        for (int64_t c = 0; c < dim; ++c) out.push_back(x[st.offset(b, h, i, c)]);
  return out;
}

namespace {

Strides4 mask_strides(MaskKind kind, const ProblemSpec& s) {
  if (kind == MaskKind::kTwoD) return {0, 0, s.kv_len, 1};
  return bhld_strides(s.q_heads, s.q_len, s.kv_len);
}

size_t mask_size(MaskKind kind, const ProblemSpec& s) {
  if (kind == MaskKind::kNone) return 0;
  const size_t one = static_cast<size_t>(s.q_len * s.kv_len);
  return kind == MaskKind::kTwoD ? one : one * s.batch * s.q_heads;
}

}  // namespace

Problem::Problem(const ProblemSpec& spec) : spec_(spec) {
  const ProblemSpec& s = spec_;
  const float m = s.magnitude;
  q_ = random_floats(s.batch * s.q_heads * s.q_len * s.head_dim, s.seed * 7 + 1, -m, m);
  k_ = random_floats(s.batch * s.kv_heads * s.kv_len * s.head_dim, s.seed * 7 + 2, -m, m);
  v_ = random_floats(s.batch * s.kv_heads * s.kv_len * s.v_head_dim, s.seed * 7 + 3, -1, 1);
  out_.assign(s.batch * s.q_heads * s.q_len * s.v_head_dim, NAN);
  lse_.assign(s.batch * s.q_heads * s.q_len, NAN);
  if (s.alibi) slopes_ = random_floats(s.q_heads, s.seed * 7 + 4, 0.01f, 0.5f);
  std::mt19937_64 rng(s.seed * 7 + 5);
  if (s.key_lengths) {
    for (int64_t b = 0; b < s.batch; ++b) key_lengths_.push_back(rng() % (s.kv_len + 1));
  }
  bool_mask_.resize(mask_size(s.bool_mask, s));
  for (uint8_t& x : bool_mask_) x = (rng() % 4) != 0;
  additive_ = random_floats(mask_size(s.additive_mask, s), s.seed * 7 + 6, -2.0f, 2.0f);
  for (float& x : additive_) {
    if (rng() % 5 == 0) x = -INFINITY;
  }
}

AttentionParams Problem::params() {
  const ProblemSpec& s = spec_;
  const auto view = [&](float* data, int64_t heads, int64_t len, int64_t dim) {
    return TensorView4{data, s.batch, heads, len, dim, layout_strides(s, heads, len, dim)};
  };
  AttentionParams p =
      attention_params(view(q_.data(), s.q_heads, s.q_len, s.head_dim),
                       view(k_.data(), s.kv_heads, s.kv_len, s.head_dim),
                       view(v_.data(), s.kv_heads, s.kv_len, s.v_head_dim),
                       view(out_.data(), s.q_heads, s.q_len, s.v_head_dim), lse_.data());
  p.scale = s.scale;
  p.softcap = s.softcap;
  p.causal = s.causal;
  p.causal_align = s.align;
  p.window_left = s.window_left;
  p.window_right = s.window_right;
  p.dropout_p = s.dropout_p;
  p.dropout_seed = s.dropout_seed;
  p.query_start = s.query_start;
  p.key_start = s.key_start;
  if (!s.cu_seqlens_q.empty()) {
    p.cu_seqlens_q = s.cu_seqlens_q.data();
    p.cu_seqlens_k = s.cu_seqlens_k.data();
    p.sequences = static_cast<int64_t>(s.cu_seqlens_q.size()) - 1;
  }
  p.alibi_slopes = slopes_.empty() ? nullptr : slopes_.data();
  p.key_lengths = key_lengths_.empty() ? nullptr : key_lengths_.data();
  if (s.bool_mask != MaskKind::kNone) {
    p.bool_mask = bool_mask_.data();
    p.bool_mask_stride = mask_strides(s.bool_mask, s);
  }
  if (s.additive_mask != MaskKind::kNone) {
    p.additive_mask = additive_.data();
    p.additive_mask_stride = mask_strides(s.additive_mask, s);
  }
  return p;
}

std::vector<float> Problem::out_bhld() const {
  const ProblemSpec& s = spec_;
  return gather_bhld(out_.data(), layout_strides(s, s.q_heads, s.q_len, s.v_head_dim), s.batch,
                     s.q_heads, s.q_len, s.v_head_dim);
}

ProblemSpec option_case(int which) {
  ProblemSpec s;
  s.batch = 2;
  s.q_heads = 4;
  s.kv_heads = 2;
  s.q_len = 70;
  s.kv_len = 150;
  s.head_dim = 40;
  s.v_head_dim = 24;
  // clang-format off
  switch (which) {
    case 0: break;
    case 1: s.causal = true; break;
    case 2: s.causal = true; s.align = CausalAlign::kTopLeft; break;
    case 3: s.window_left = 20; s.window_right = 5; break;
    case 4: s.causal = true; s.window_left = 33; break;
    case 5: s.softcap = 2.0f; s.magnitude = 3.0f; break;
    case 6: s.alibi = true; break;
    case 7: s.key_lengths = true; break;
    case 8: s.bool_mask = MaskKind::kTwoD; break;
    case 9: s.bool_mask = MaskKind::kFull; break;
    case 10: s.additive_mask = MaskKind::kTwoD; break;
    case 11: s.additive_mask = MaskKind::kFull; break;
    case 12: s.scale = 0.3f; break;
    case 13: s.blhd = true; s.causal = true; break;
    case 14: s.q_heads = 8; s.kv_heads = 1; break;  // multi-query
    case 15: s.q_len = 300; s.kv_len = 90; s.causal = true; break;  // Lq > Lk
    case 16: s.dropout_p = 0.3f; s.dropout_seed = 7; break;
    case 17: s.dropout_p = 0.7f; s.dropout_seed = 8; s.causal = true; break;
    case 18:  // everything at once
      s.causal = true; s.window_left = 50; s.softcap = 20.0f; s.alibi = true; s.key_lengths = true;
      s.bool_mask = MaskKind::kTwoD; s.additive_mask = MaskKind::kFull; s.blhd = true;
      s.dropout_p = 0.2f; s.dropout_seed = 9;
      break;
  }
  // clang-format on
  return s;
}

std::vector<int32_t> offsets_of(const std::vector<int32_t>& lengths) {
  std::vector<int32_t> cu{0};
  for (int32_t n : lengths) cu.push_back(cu.back() + n);
  return cu;
}

// Sequences with query and key lengths that differ, an empty one, one longer than a tile.
ProblemSpec packed_case(int which) {
  ProblemSpec s;
  s.q_heads = 4;
  s.kv_heads = 2;
  s.head_dim = 40;
  s.v_head_dim = 24;
  s.cu_seqlens_q = offsets_of({13, 0, 70, 1, 120, 9});
  s.cu_seqlens_k = offsets_of({20, 5, 70, 3, 150, 0});
  // clang-format off
  switch (which) {
    case 0: break;
    case 1: s.causal = true; break;
    case 2: s.causal = true; s.align = CausalAlign::kTopLeft; break;
    case 3: s.window_left = 20; s.window_right = 5; break;
    case 4: s.causal = true; s.window_left = 33; break;
    case 5: s.softcap = 2.0f; s.magnitude = 3.0f; break;
    case 6: s.alibi = true; s.causal = true; break;
    case 7: s.bool_mask = MaskKind::kTwoD; break;
    case 8: s.additive_mask = MaskKind::kFull; break;
    case 9: s.dropout_p = 0.25f; s.dropout_seed = 9; break;
    case 10: s.blhd = true; s.q_heads = 6; s.kv_heads = 1; s.causal = true; break;
    case 11: s.alibi = true; s.softcap = 5.0f; s.window_left = 30; s.causal = true;
             s.dropout_p = 0.1f; s.dropout_seed = 4; s.bool_mask = MaskKind::kFull;
             s.scale = 0.2f; s.blhd = true; break;
  }
  // clang-format on
  s.q_len = s.cu_seqlens_q.back();
  s.kv_len = s.cu_seqlens_k.back();
  return s;
}

std::vector<ProblemSpec> random_sweep(uint64_t seed, bool small, int64_t budget) {
  const std::vector<int64_t> lens = {1, 2, 17, 64, 127, 1000};
  const std::vector<int64_t> dims = {1, 3, 8, 33, 64, 80, 128, 256};
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  std::vector<ProblemSpec> specs;
  for (int64_t d : dims) {
    for (int64_t len : lens) {
      ProblemSpec s;
      s.seed = rng();
      s.head_dim = d;
      s.v_head_dim = pick(3) == 0 ? lens[pick(4)] % 97 + 1 : d;
      s.q_len = len;
      s.kv_len = pick(2) ? len : lens[pick(static_cast<int>(lens.size()))];
      // Keep the double reference affordable.
      const int64_t limit = budget > 0 ? budget : small ? 2'000'000 : 40'000'000;
      while (s.q_len * s.kv_len * (d + s.v_head_dim) > limit && s.q_len > 1) {
        s.q_len = std::max<int64_t>(1, s.q_len / 3);
      }
      s.kv_heads = 1 + pick(2);
      s.q_heads = s.kv_heads * (1 + pick(3));
      s.batch = 1 + pick(2);
      s.blhd = pick(2);
      s.causal = pick(2);
      s.align = pick(3) == 0 ? CausalAlign::kTopLeft : CausalAlign::kBottomRight;
      if (pick(4) == 0) s.window_left = pick(40);
      if (pick(5) == 0) s.window_right = pick(20);
      if (pick(4) == 0) s.softcap = 5.0f + pick(30);
      s.alibi = pick(4) == 0;
      s.key_lengths = pick(4) == 0;
      s.bool_mask = static_cast<MaskKind>(pick(5) == 0 ? 1 + pick(2) : 0);
      s.additive_mask = static_cast<MaskKind>(pick(5) == 0 ? 1 + pick(2) : 0);
      if (pick(5) == 0) s.scale = 0.05f + 0.5f * pick(4);
      s.magnitude = pick(4) == 0 ? 4.0f : 1.0f;
      specs.push_back(s);
    }
  }
  return specs;
}

std::string check_against_reference(Problem& problem) {
  AttentionParams p = problem.params();
  flash_attention_forward(p);
  const ReferenceResult ref = attention_reference(p);
  const std::vector<float> naive = attention_naive_fp32(p);
  const double flash_err = max_abs_diff(problem.out_bhld(), ref.out);
  const double naive_err = max_abs_diff(naive, ref.out);
  std::ostringstream why;
  if (!(flash_err <= 2.0 * naive_err + 1e-6)) {
    why << "output error " << flash_err << " > 2 x naive fp32 error " << naive_err << "; ";
  }
  for (size_t r = 0; r < ref.lse.size(); ++r) {
    const double got = problem.lse()[r], want = ref.lse[r];
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
