#include "backward_problem.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "attn/ref/attention_reference.h"
#include "test_util.h"

namespace attn::testing {

namespace {

size_t elements(int64_t batch, int64_t heads, int64_t len, int64_t dim) {
  return static_cast<size_t>(batch * heads * len * dim);
}

// (flash error − floor) / plain fp32 error of one gradient, with its errors appended to `report`;
// the 2× rule holds when the ratio is ≤ 2. The floor is 1e-7 × (1 + the gradient's largest |x|).
double gradient_ratio(const char* name, const std::vector<float>& flash,
                      const std::vector<float>& naive, const std::vector<double>& ref,
                      std::ostringstream& report) {
  const std::vector<double> naive_wide(naive.begin(), naive.end());
  const double flash_err = max_abs_diff(flash, ref);
  const double naive_err = max_abs_diff(naive_wide, ref);
  const double floor = 1e-7 * (1.0 + max_abs(ref));
  report << name << " error " << flash_err << " (plain fp32 " << naive_err << ", floor " << floor
         << "); ";
  if (flash_err <= floor) return 0.0;
  return naive_err > 0.0 ? (flash_err - floor) / naive_err : INFINITY;  // NaN compares false
}

}  // namespace

BackwardProblem::BackwardProblem(const ProblemSpec& spec) : problem_(spec) {
  const ProblemSpec& s = spec;
  dout_ = random_floats(elements(s.batch, s.q_heads, s.q_len, s.v_head_dim), s.seed * 7 + 11);
  dq_.assign(elements(s.batch, s.q_heads, s.q_len, s.head_dim), NAN);
  dk_.assign(elements(s.batch, s.kv_heads, s.kv_len, s.head_dim), NAN);
  dv_.assign(elements(s.batch, s.kv_heads, s.kv_len, s.v_head_dim), NAN);
}

AttentionGrads BackwardProblem::grads() {
  const ProblemSpec& s = spec();
  AttentionGrads g;
  g.dout = dout_.data();
  g.dout_stride = layout_strides(s, s.q_heads, s.q_len, s.v_head_dim);
  g.dq = dq_.data();
  g.dq_stride = layout_strides(s, s.q_heads, s.q_len, s.head_dim);
  g.dk = dk_.data();
  g.dk_stride = layout_strides(s, s.kv_heads, s.kv_len, s.head_dim);
  g.dv = dv_.data();
  g.dv_stride = layout_strides(s, s.kv_heads, s.kv_len, s.v_head_dim);
  g.plan = plan_;
  return g;
}

std::vector<float> BackwardProblem::dq_bhld() const {
  const ProblemSpec& s = spec();
  return gather_bhld(dq_.data(), layout_strides(s, s.q_heads, s.q_len, s.head_dim), s.batch,
                     s.q_heads, s.q_len, s.head_dim);
}
std::vector<float> BackwardProblem::dk_bhld() const {
  const ProblemSpec& s = spec();
  return gather_bhld(dk_.data(), layout_strides(s, s.kv_heads, s.kv_len, s.head_dim), s.batch,
                     s.kv_heads, s.kv_len, s.head_dim);
}
std::vector<float> BackwardProblem::dv_bhld() const {
  const ProblemSpec& s = spec();
  return gather_bhld(dv_.data(), layout_strides(s, s.kv_heads, s.kv_len, s.v_head_dim), s.batch,
                     s.kv_heads, s.kv_len, s.v_head_dim);
}

void run_flash_backward(BackwardProblem& problem) {
  const AttentionParams p = problem.params();
  flash_attention_forward(p);
  flash_attention_backward(p, problem.grads());
}

BackwardReference backward_reference(BackwardProblem& problem) {
  const AttentionParams p = problem.params();
  const AttentionGrads g = problem.grads();
  return {attention_reference_backward(p, g.dout, g.dout_stride),
          attention_naive_backward_fp32(p, g.dout, g.dout_stride)};
}

BackwardCheck compare_backward(BackwardProblem& problem, const BackwardReference& reference) {
  run_flash_backward(problem);
  const NaiveGrads& naive = reference.naive;
  const ReferenceGrads& exact = reference.exact;
  std::ostringstream report;
  const double ratios[] = {
      gradient_ratio("dq", problem.dq_bhld(), naive.dq, exact.dq, report),
      gradient_ratio("dk", problem.dk_bhld(), naive.dk, exact.dk, report),
      gradient_ratio("dv", problem.dv_bhld(), naive.dv, exact.dv, report),
  };
  double worst = 0.0;
  for (double r : ratios) worst = std::isnan(r) || std::isnan(worst) ? NAN : std::max(worst, r);
  return {worst, report.str() + problem.spec().describe()};
}

std::string check_backward_against_reference(BackwardProblem& problem,
                                             const BackwardReference& reference, double factor) {
  const BackwardCheck check = compare_backward(problem, reference);
  if (check.worst_ratio <= factor) return "";
  std::ostringstream why;
  why << "flash error above " << factor << " x plain fp32 error + floor: " << check.report;
  return why.str();
}

std::string check_backward_against_reference(BackwardProblem& problem) {
  return check_backward_against_reference(problem, backward_reference(problem));
}

}  // namespace attn::testing
