#include "ring_problem.h"

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "attn/ref/attention_reference.h"
#include "test_util.h"

namespace attn::testing {

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int world_size() {
  int s = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

RingShard::RingShard(BackwardProblem& whole, dist::Sharding sharding)
    : whole_(whole),
      ring_{MPI_COMM_WORLD, sharding},
      layout_{whole.spec().q_len, world_size(), sharding} {
  const ProblemSpec& s = whole.spec();
  const AttentionParams p = whole.params();
  const AttentionGrads g = whole.grads();
  q_ = shard_of(p.q, s.q_heads, s.head_dim);
  k_ = shard_of(p.k, s.kv_heads, s.head_dim);
  v_ = shard_of(p.v, s.kv_heads, s.v_head_dim);
  dout_ = shard_of(g.dout, s.q_heads, s.v_head_dim);
  const int64_t rows = layout_.shard_len();
  out_.assign(s.batch * s.q_heads * rows * s.v_head_dim, NAN);
  lse_.assign(s.batch * s.q_heads * rows, NAN);
  dq_.assign(q_.size(), NAN);
  dk_.assign(k_.size(), NAN);
  dv_.assign(v_.size(), NAN);
}

std::vector<float> RingShard::shard_of(const float* full, int64_t heads, int64_t dim) const {
  const ProblemSpec& s = whole_.spec();
  std::vector<float> shard(s.batch * heads * layout_.shard_len() * dim);
  dist::take_shard(layout_, world_rank(), {s.batch, heads, dim}, full,
                   layout_strides(s, heads, s.q_len, dim), shard.data(),
                   layout_strides(s, heads, layout_.shard_len(), dim));
  return shard;
}

AttentionParams RingShard::params() {
  const ProblemSpec& s = whole_.spec();
  const int64_t rows = layout_.shard_len();
  AttentionParams p = whole_.params();
  p.q = q_.data();
  p.q_stride = layout_strides(s, s.q_heads, rows, s.head_dim);
  p.k = k_.data();
  p.k_stride = layout_strides(s, s.kv_heads, rows, s.head_dim);
  p.v = v_.data();
  p.v_stride = layout_strides(s, s.kv_heads, rows, s.v_head_dim);
  p.q_len = p.kv_len = rows;
  p.out = out_.data();
  p.out_stride = layout_strides(s, s.q_heads, rows, s.v_head_dim);
  p.lse = lse_.data();
  p.lse_stride = {s.q_heads * rows, rows, 1, 0};
  return p;
}

AttentionGrads RingShard::grads() {
  const ProblemSpec& s = whole_.spec();
  const int64_t rows = layout_.shard_len();
  AttentionGrads g;
  g.dout = dout_.data();
  g.dout_stride = layout_strides(s, s.q_heads, rows, s.v_head_dim);
  g.dq = dq_.data();
  g.dq_stride = layout_strides(s, s.q_heads, rows, s.head_dim);
  g.dk = dk_.data();
  g.dk_stride = layout_strides(s, s.kv_heads, rows, s.head_dim);
  g.dv = dv_.data();
  g.dv_stride = layout_strides(s, s.kv_heads, rows, s.v_head_dim);
  return g;
}

std::vector<float> RingShard::local_results() const {
  std::vector<float> all;
  for (const auto* x : {&out_, &lse_, &dq_, &dk_, &dv_})
    all.insert(all.end(), x->begin(), x->end());
  return all;
}

std::vector<float> RingShard::gather(const std::vector<float>& local, int64_t heads,
                                     int64_t dim) const {
  const ProblemSpec& s = whole_.spec();
  const int64_t rows = layout_.shard_len();
  // The shard in [B, H, rows, dim] order first (the problem's layout may be [B, L, H, D]).
  const Strides4 st =
      dim == 1 ? Strides4{heads * rows, rows, 1, 0} : layout_strides(s, heads, rows, dim);
  const std::vector<float> bhld = gather_bhld(local.data(), st, s.batch, heads, rows, dim);
  std::vector<float> full(world_rank() == 0 ? s.batch * heads * s.q_len * dim : 0);
  dist::gather_shards(MPI_COMM_WORLD, layout_, {s.batch, heads, dim}, bhld.data(), full.data());
  return full;
}

std::vector<float> RingShard::gather_out() const {
  return gather(out_, whole_.spec().q_heads, whole_.spec().v_head_dim);
}
std::vector<float> RingShard::gather_lse() const { return gather(lse_, whole_.spec().q_heads, 1); }
std::vector<float> RingShard::gather_dq() const {
  return gather(dq_, whole_.spec().q_heads, whole_.spec().head_dim);
}
std::vector<float> RingShard::gather_dk() const {
  return gather(dk_, whole_.spec().kv_heads, whole_.spec().head_dim);
}
std::vector<float> RingShard::gather_dv() const {
  return gather(dv_, whole_.spec().kv_heads, whole_.spec().v_head_dim);
}

namespace {

std::string describe(const ProblemSpec& spec, dist::Sharding sharding) {
  return spec.describe() + " " + dist::sharding_name(sharding) +
         " P=" + std::to_string(world_size());
}

// "" when the lse matches the reference's (−inf where the reference's is).
std::string check_lse(const std::vector<float>& got, const std::vector<double>& want) {
  for (size_t r = 0; r < want.size(); ++r) {
    const bool ok = std::isinf(want[r])
                        ? got[r] == want[r]
                        : std::abs(got[r] - want[r]) <= 1e-5 * (1 + std::abs(want[r]));
    if (!ok) {
      std::ostringstream why;
      why << "lse[" << r << "] = " << got[r] << ", want " << want[r] << "; ";
      return why.str();
    }
  }
  return "";
}

// "" when max |ring − exact| ≤ factor × max |naive − exact| + floor (floor as the flash tests').
std::string check_gradient(const char* name, const std::vector<float>& ring,
                           const std::vector<float>& naive, const std::vector<double>& exact,
                           double factor) {
  const std::vector<double> naive_wide(naive.begin(), naive.end());
  const double err = max_abs_diff(ring, exact), naive_err = max_abs_diff(naive_wide, exact);
  const double floor = 1e-7 * (1.0 + max_abs(exact));
  if (err <= factor * naive_err + floor) return "";
  std::ostringstream why;
  why << name << " error " << err << " > " << factor << " x plain fp32 error " << naive_err
      << " + floor " << floor << "; ";
  return why.str();
}

}  // namespace

std::string check_ring_forward(const ProblemSpec& spec, dist::Sharding sharding) {
  BackwardProblem whole(spec);
  RingShard shard(whole, sharding);
  shard.forward();
  const std::vector<float> out = shard.gather_out(), lse = shard.gather_lse();
  if (world_rank() != 0) return "";
  const AttentionParams p = whole.params();
  const ReferenceResult ref = attention_reference(p);
  const std::vector<float> naive = attention_naive_fp32(p);
  const double err = max_abs_diff(out, ref.out), naive_err = max_abs_diff(naive, ref.out);
  std::ostringstream why;
  if (!(err <= 2.0 * naive_err + 1e-6)) {
    why << "output error " << err << " > 2 x naive fp32 error " << naive_err << "; ";
  }
  why << check_lse(lse, ref.lse);
  const std::string problems = why.str();
  return problems.empty() ? "" : problems + describe(spec, sharding);
}

std::string check_ring_backward(const ProblemSpec& spec, dist::Sharding sharding, double factor) {
  BackwardProblem whole(spec);
  RingShard shard(whole, sharding);
  shard.forward();
  shard.backward();
  const std::vector<float> dq = shard.gather_dq(), dk = shard.gather_dk(), dv = shard.gather_dv();
  if (world_rank() != 0) return "";
  const BackwardReference ref = backward_reference(whole);
  const std::string problems = check_gradient("dq", dq, ref.naive.dq, ref.exact.dq, factor) +
                               check_gradient("dk", dk, ref.naive.dk, ref.exact.dk, factor) +
                               check_gradient("dv", dv, ref.naive.dv, ref.exact.dv, factor);
  return problems.empty() ? "" : problems + describe(spec, sharding);
}

}  // namespace attn::testing
