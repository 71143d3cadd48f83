// A random attention problem with the backward's buffers: dout drawn at random and dq, dk, dv,
// all in the problem's layout; and the 2× rule for the gradients.
#pragma once

#include <string>
#include <vector>

#include "attention_problem.h"
#include "attn/kernels/attention.h"
#include "attn/ref/attention_reference.h"

namespace attn::testing {

class BackwardProblem {
 public:
  explicit BackwardProblem(const ProblemSpec& spec);

  Problem& problem() { return problem_; }
  const ProblemSpec& spec() const { return problem_.spec(); }
  // The forward's params (out and lse included).
  AttentionParams params() { return problem_.params(); }
  // dout and the gradient buffers of this problem, with the backward plan set by set_plan.
  AttentionGrads grads();
  void set_plan(BackwardPlan plan) { plan_ = plan; }

  // The gradients gathered into [B, H, L, D] order (whatever the layout).
  std::vector<float> dq_bhld() const;
  std::vector<float> dk_bhld() const;
  std::vector<float> dv_bhld() const;

 private:
  Problem problem_;
  std::vector<float> dout_, dq_, dk_, dv_;
  BackwardPlan plan_ = BackwardPlan::kAuto;
};

// Runs the flash forward then the flash backward on the current thread count and SIMD target.
void run_flash_backward(BackwardProblem& problem);

// The double reference gradients and the plain fp32 ones of a problem, [B, H, L, D] each.
struct BackwardReference {
  ReferenceGrads exact;
  NaiveGrads naive;
};
BackwardReference backward_reference(BackwardProblem& problem);

// Runs run_flash_backward and measures dq, dk and dv against the 2× rule, each gradient on its
// own: the worst over the three of (max |flash − reference| − floor) / max |plain fp32 backward −
// reference|, where the floor is 1e-7 × (1 + the gradient's largest magnitude). The rule holds
// when worst_ratio ≤ 2; NaN when a gradient holds NaN.
struct BackwardCheck {
  double worst_ratio;
  std::string report;  // the errors of the three gradients and the problem
};
BackwardCheck compare_backward(BackwardProblem& problem, const BackwardReference& reference);

// "" when compare_backward's worst ratio is ≤ factor, else an explanation.
std::string check_backward_against_reference(BackwardProblem& problem,
                                             const BackwardReference& reference,
                                             double factor = 2.0);
std::string check_backward_against_reference(BackwardProblem& problem);

}  // namespace attn::testing
