// The textbook backward of attention_reference, one query row at a time. Each step quotes the
// forward step (reference_steps.h) it differentiates; for row i of head h:
//
//   forward                               backward
//   t_j = scale · (q_i · k_j)             dq_i += scale · Σ_j dt_j k_j,  dk_j += scale · dt_j q_i
//   u_j = c · tanh(t_j / c)   (softcap)   dt_j = du_j · (1 − tanh²(t_j / c))
//   s_j = u_j + ALiBi + additive mask     du_j = ds_j   (additive terms: identity)
//   s_j = −inf where masked               P_j = 0 there, so ds_j = 0
//   P = softmax(s)                        ds_j = P_j · (dP_j − Δ_i),  Δ_i = Σ_c do_ic · o_ic
//   Z_j = P_j · f_j   (dropout)           dP_j = dZ_j · f_j,   f_j = M_ij / (1 − p)
//   o_i = Σ_j Z_j v_j                     dv_j += Z_j · do_i,  dZ_j = do_i · v_j
//
// Δ_i = Σ_j P_j dP_j still holds with dropout: Σ_j P_j f_j (do_i · v_j) = do_i · o_i.
//
// dk and dv of a KV head sum the rows of every query head of its group. A fully masked row has
// P = 0 and contributes nothing; its dq row is 0.
#include <vector>

#include "attn/core/error.h"
#include "attn/ref/attention_reference.h"
#include "kernels/widened_inputs.h"
#include "ref/reference_steps.h"

namespace attn {

namespace {

// Gradients accumulated in Acc, contiguous: dq [B, Hq, Lq, D], dk [B, Hkv, Lk, D],
// dv [B, Hkv, Lk, Dv].
template <typename Acc>
struct GradsOf {
  std::vector<Acc> dq, dk, dv;
};

// dout row i of (b, h) read into Acc: do_i [Dv].
template <typename Acc>
std::vector<Acc> dout_row(const AttentionParams& p, const float* dout, const Strides4& stride,
                          int64_t b, int64_t h, int64_t i) {
  std::vector<Acc> row(p.v_head_dim);
  for (int64_t c = 0; c < p.v_head_dim; ++c) row[c] = Acc(dout[stride.offset(b, h, i, c)]);
  return row;
}

// Backward of o_i = Σ_j Z_j v_j: dv_j += Z_j · do_i; returns dZ_j = do_i · v_j [Lk].
template <typename Acc>
std::vector<Acc> backward_weighted_values(const AttentionParams& p, int64_t b, int64_t h,
                                          const std::vector<Acc>& P, const std::vector<Acc>& dO,
                                          GradsOf<Acc>& g) {
  const int64_t kvh = p.kv_head_of(h);
  std::vector<Acc> dP(p.kv_len, 0);
  for (int64_t j = 0; j < p.kv_len; ++j) {
    Acc* dv = g.dv.data() + ((b * p.kv_heads + kvh) * p.kv_len + j) * p.v_head_dim;
    for (int64_t c = 0; c < p.v_head_dim; ++c) {
      dv[c] += P[j] * dO[c];
      dP[j] += dO[c] * Acc(p.v[p.v_stride.offset(b, kvh, j, c)]);
    }
  }
  return dP;
}

// Backward of P = softmax(s) and of the softcap: dt_j = P_j · (dP_j − Δ_i) · softcap'(t_j), with
// Δ_i = Σ_c do_ic · o_ic. The additive mask and ALiBi are additive constants: identity.
template <typename Acc>
std::vector<Acc> backward_softmax_softcap(const AttentionParams& p, const ref::RowScores<Acc>& r,
                                          const std::vector<Acc>& P, const std::vector<Acc>& dP,
                                          const std::vector<Acc>& o, const std::vector<Acc>& dO) {
  Acc delta = 0;
  for (int64_t c = 0; c < p.v_head_dim; ++c) delta += dO[c] * o[c];
  std::vector<Acc> dt(p.kv_len);
  for (int64_t j = 0; j < p.kv_len; ++j) {
    // A masked key gets nothing from the row, even where Δ is NaN (0 · NaN).
    dt[j] = r.scores[j] == ref::kMinusInf<Acc> ? Acc(0) : P[j] * (dP[j] - delta);
    if (p.softcap > 0) {
      const Acc th = std::tanh(r.scaled[j] / Acc(p.softcap));
      dt[j] *= Acc(1) - th * th;  // d/dt of c · tanh(t / c)
    }
  }
  return dt;
}

// Backward of t_j = scale · (q_i · k_j): dq_i += scale · Σ_j dt_j k_j, dk_j += scale · dt_j q_i.
template <typename Acc>
void backward_scores(const AttentionParams& p, int64_t b, int64_t h, int64_t i,
                     const std::vector<Acc>& dt, GradsOf<Acc>& g) {
  const int64_t kvh = p.kv_head_of(h);
  const Acc scale = p.effective_scale();
  Acc* dq = g.dq.data() + ((b * p.q_heads + h) * p.q_len + i) * p.head_dim;
  for (int64_t j = 0; j < p.kv_len; ++j) {
    if (dt[j] == Acc(0)) continue;  // masked, or no gradient: nothing to add
    Acc* dk = g.dk.data() + ((b * p.kv_heads + kvh) * p.kv_len + j) * p.head_dim;
    for (int64_t d = 0; d < p.head_dim; ++d) {
      dq[d] += scale * dt[j] * Acc(p.k[p.k_stride.offset(b, kvh, j, d)]);
      dk[d] += scale * dt[j] * Acc(p.q[p.q_stride.offset(b, h, i, d)]);
    }
  }
}

// The forward of row i of (b, h), then its backward into g. The output o_i is rounded to
// stored_out, the type in which a 16-bit implementation keeps it for the backward (kF32: not).
template <typename Acc>
void backward_row(const AttentionParams& p, const float* dout, const Strides4& dout_stride,
                  int64_t b, int64_t h, int64_t i, ElementType stored_out, GradsOf<Acc>& g) {
  const ref::QkvView<float> x{p.q, p.k, p.v};
  const ref::RowScores<Acc> r = ref::row_scores<Acc>(p, x, b, h, i);  // step 1
  std::vector<Acc> P = r.scores;
  ref::softmax_in_place(P);  // step 2
  const std::vector<Acc> f = ref::dropout_factors<Acc>(p, b, h, i);
  std::vector<Acc> Z = P;
  ref::scale_in_place(Z, f);  // step 2b
  std::vector<Acc> o(p.v_head_dim);
  ref::weighted_values(p, x, b, h, i, Z, o.data());  // step 3
  if (stored_out != ElementType::kF32) {
    for (Acc& oc : o) oc = Acc(round_to(float(oc), stored_out));
  }
  const std::vector<Acc> dO = dout_row<Acc>(p, dout, dout_stride, b, h, i);
  std::vector<Acc> dP = backward_weighted_values(p, b, h, Z, dO, g);
  ref::scale_in_place(dP, f);
  const std::vector<Acc> dt = backward_softmax_softcap(p, r, P, dP, o, dO);
  backward_scores(p, b, h, i, dt, g);
}

template <typename Acc>
GradsOf<Acc> backward_rows(const AttentionParams& p, const float* dout, const Strides4& dout_stride,
                           ElementType stored_out = ElementType::kF32) {
  validate(p);
  if (p.input_type != ElementType::kF32) {  // the rounded inputs, widened exactly
    const WidenedProblem w = widen_problem(p, /*read_out=*/false);
    return backward_rows<Acc>(w.params, dout, dout_stride, stored_out);
  }
  ATTN_CHECK(dout != nullptr, "attention backward: dout is missing");
  GradsOf<Acc> g;
  g.dq.assign(p.batch * p.q_heads * p.q_len * p.head_dim, 0);
  g.dk.assign(p.batch * p.kv_heads * p.kv_len * p.head_dim, 0);
  g.dv.assign(p.batch * p.kv_heads * p.kv_len * p.v_head_dim, 0);
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t h = 0; h < p.q_heads; ++h) {
      for (int64_t i = 0; i < p.q_len; ++i) {
        backward_row(p, dout, dout_stride, b, h, i, stored_out, g);
      }
    }
  }
  return g;
}

}  // namespace

ReferenceGrads attention_reference_backward(const AttentionParams& p, const float* dout,
                                            const Strides4& dout_stride) {
  GradsOf<double> g = backward_rows<double>(p, dout, dout_stride);
  return {std::move(g.dq), std::move(g.dk), std::move(g.dv)};
}

NaiveGrads attention_naive_backward_fp32(const AttentionParams& p, const float* dout,
                                         const Strides4& dout_stride) {
  GradsOf<float> g = backward_rows<float>(p, dout, dout_stride, p.output_type);
  return {std::move(g.dq), std::move(g.dk), std::move(g.dv)};
}

}  // namespace attn
