// AdamW against a hand computation, gradient clipping, the learning-rate schedule.
#include <cmath>
#include <numbers>

#include "attn/core/error.h"
#include "attn/nn/parameter.h"
#include "attn/nn/tensor_ops.h"
#include "attn/train/adamw.h"
#include "attn/train/grad_clip.h"
#include "attn/train/lr_schedule.h"
#include "gtest/gtest.h"

namespace attn::testing {
namespace {

// Two parameters, one decayed ("weight") and one not ("bias").
struct TwoParams {
  Tensor w = nn::tensor_from({2}, {1.0f, -2.0f}), dw = Tensor({2});
  Tensor b = nn::tensor_from({1}, {3.0f}), db = Tensor({1});
  std::vector<nn::Parameter> list() {
    return {nn::make_parameter("weight", w, dw, true), nn::make_parameter("bias", b, db, false)};
  }
};

TEST(AdamW, TwoStepsMatchHandComputation) {
  TwoParams p;
  train::AdamWConfig c;
  c.beta1 = 0.9f, c.beta2 = 0.999f, c.eps = 1e-8f, c.weight_decay = 0.01f;
  train::AdamW opt(p.list(), c);
  // Step 1, g = 0.5: m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25 → update ≈ 1;
  //   θ = 1 − 0.1·(1 + 0.01·1) = 0.899.  Likewise θ = −2 − 0.1·(−1 − 0.02) = −1.898.
  // The bias (g = 0.2, no decay): 3 − 0.1·1 = 2.9.
  p.dw.data()[0] = 0.5f, p.dw.data()[1] = -0.1f, p.db.data()[0] = 0.2f;
  opt.step(0.1f);
  EXPECT_NEAR(p.w.data()[0], 0.899, 1e-6);
  EXPECT_NEAR(p.w.data()[1], -1.898, 1e-6);
  EXPECT_NEAR(p.b.data()[0], 2.9, 1e-6);
  // Step 2, g = −0.5: m = 0.045 − 0.05 = −0.005, v = 0.00024975 + 0.00025 = 0.00049975,
  //   m̂ = −0.005/0.19, v̂ = 0.00049975/0.001999 = 0.25 → update = −0.0526316;
  //   θ = 0.899 − 0.1·(−0.0526316 + 0.00899) = 0.9033642.
  // g = 0.3: m = 0.021, v = 0.00009999, m̂ = 0.1105263, v̂ = 0.0500200 → update = 0.4941917;
  //   θ = −1.898 − 0.1·(0.4941917 − 0.01898) = −1.9455210.
  p.dw.data()[0] = -0.5f, p.dw.data()[1] = 0.3f;
  opt.step(0.1f);
  EXPECT_NEAR(p.w.data()[0], 0.9033642, 2e-6);
  EXPECT_NEAR(p.w.data()[1], -1.9455210, 2e-6);
  EXPECT_EQ(opt.steps(), 2);
}

TEST(AdamW, DecayAppliesOnlyToMarkedParameters) {
  TwoParams p;
  train::AdamWConfig c;
  c.weight_decay = 0.5f;
  train::AdamW opt(p.list(), c);
  opt.step(0.1f);  // zero gradients: only the decay moves θ, by lr·λ·θ
  EXPECT_FLOAT_EQ(p.w.data()[0], 1.0f - 0.1f * 0.5f * 1.0f);
  EXPECT_FLOAT_EQ(p.w.data()[1], -2.0f - 0.1f * 0.5f * -2.0f);
  EXPECT_EQ(p.b.data()[0], 3.0f);
}

TEST(AdamW, ZeroGradClearsEveryGradient) {
  TwoParams p;
  train::AdamW opt(p.list(), {});
  p.dw.data()[1] = 4.0f, p.db.data()[0] = -1.0f;
  opt.zero_grad();
  EXPECT_EQ(nn::to_vector(p.dw), (std::vector<float>{0, 0}));
  EXPECT_EQ(p.db.data()[0], 0.0f);
}

TEST(GradClip, ScalesDownToTheMaximumNorm) {
  TwoParams p;
  p.dw.data()[0] = 3.0f, p.dw.data()[1] = 0.0f, p.db.data()[0] = 4.0f;  // norm 5
  EXPECT_DOUBLE_EQ(train::global_grad_norm(p.list()), 5.0);
  EXPECT_DOUBLE_EQ(train::clip_grad_norm(p.list(), 1.0), 5.0);
  EXPECT_FLOAT_EQ(p.dw.data()[0], 0.6f);
  EXPECT_FLOAT_EQ(p.db.data()[0], 0.8f);
  EXPECT_NEAR(train::global_grad_norm(p.list()), 1.0, 1e-6);
}

TEST(GradClip, LeavesSmallGradientsAlone) {
  TwoParams p;
  p.dw.data()[0] = 0.3f, p.db.data()[0] = 0.4f;
  EXPECT_NEAR(train::clip_grad_norm(p.list(), 1.0), 0.5, 1e-7);
  EXPECT_EQ(p.dw.data()[0], 0.3f);
  EXPECT_EQ(p.db.data()[0], 0.4f);
  EXPECT_THROW(train::clip_grad_norm(p.list(), 0.0), Error);
}

TEST(GradClip, NormOfALargeGradientSumsEveryChunk) {
  Tensor w({3, 10000}), dw({3, 10000});
  nn::fill_zero(dw);
  for (size_t i = 0; i < dw.size(); ++i) dw.data()[i] = (i % 2 == 0) ? 1.0f : -1.0f;
  EXPECT_DOUBLE_EQ(train::global_grad_norm({nn::make_parameter("w", w, dw, true)}),
                   std::sqrt(30000.0));
}

TEST(CosineSchedule, WarmsUpPeaksAndDecaysToTheMinimum) {
  const train::CosineSchedule s{1e-3f, 1e-4f, 10, 110};
  EXPECT_FLOAT_EQ(s.at(0), 1e-4f);  // (0 + 1)/10 of the peak
  EXPECT_FLOAT_EQ(s.at(4), 5e-4f);
  EXPECT_FLOAT_EQ(s.at(9), 1e-3f);     // end of warm-up: the peak
  EXPECT_FLOAT_EQ(s.at(10), 1e-3f);    // cosine at 0
  EXPECT_FLOAT_EQ(s.at(60), 5.5e-4f);  // half-way: the midpoint of max and min
  EXPECT_NEAR(s.at(109), 1e-4 + 9e-4 * 0.5 * (1 + std::cos(0.99 * std::numbers::pi)), 1e-9);
  EXPECT_FLOAT_EQ(s.at(110), 1e-4f);  // end and beyond: the minimum
  EXPECT_FLOAT_EQ(s.at(1000), 1e-4f);
  for (int64_t t = 10; t < 110; ++t) EXPECT_LE(s.at(t + 1), s.at(t));
}

TEST(CosineSchedule, WithoutWarmUpStartsAtThePeak) {
  const train::CosineSchedule s{2.0f, 0.0f, 0, 4};
  EXPECT_FLOAT_EQ(s.at(0), 2.0f);
  EXPECT_FLOAT_EQ(s.at(2), 1.0f);
  EXPECT_THROW((train::CosineSchedule{1.0f, 0.0f, 5, 5}.at(0)), Error);
}

}  // namespace
}  // namespace attn::testing
