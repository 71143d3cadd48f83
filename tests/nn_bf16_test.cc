// Mixed precision: the fp32 → bf16 conversion, and Linear with bf16 products against fp32.
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

#include "attn/core/error.h"
#include "attn/core/simd_target.h"
#include "attn/kernels/bf16_convert.h"
#include "attn/nn/linear.h"
#include "attn/nn/matmul_precision.h"
#include "attn/nn/tensor_ops.h"
#include "gtest/gtest.h"
#include "nn_grad_check.h"
#include "test_util.h"

namespace attn::testing {
namespace {

uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

float from_bits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// Round to nearest even, written out case by case.
uint16_t expected_bf16(float x) {
  const uint32_t u = bits_of(x);
  if (std::isnan(x)) return static_cast<uint16_t>((u >> 16) | 0x40);
  const uint32_t kept = u >> 16, rest = u & 0xffff;
  if (rest > 0x8000 || (rest == 0x8000 && (kept & 1))) return static_cast<uint16_t>(kept + 1);
  return static_cast<uint16_t>(kept);
}

std::vector<float> conversion_cases() {
  std::vector<float> x = {1.0f,
                          from_bits(0x3f808000),  // a tie, kept part even: down
                          from_bits(0x3f818000),  // a tie, kept part odd: up
                          from_bits(0x3f808001),  // just above a tie: up
                          -from_bits(0x3f817fff),
                          std::numeric_limits<float>::max(),  // rounds up to inf
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN(),
                          from_bits(0x7f800001),  // a signalling NaN
                          std::numeric_limits<float>::denorm_min(),
                          0.0f,
                          -0.0f};
  const std::vector<float> r = random_floats(61, 5);  // odd: the vector tail is used too
  x.insert(x.end(), r.begin(), r.end());
  return x;
}

TEST(Bf16, ConversionRoundsToNearestEvenOnEveryTarget) {
  const std::vector<float> x = conversion_cases();
  for (const std::string& target : supported_simd_targets()) {
    force_simd_target(target);
    std::vector<uint16_t> out(x.size());
    to_bf16(x.data(), out.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(out[i], expected_bf16(x[i])) << target << " element " << i << " = " << x[i];
    }
    EXPECT_TRUE(std::isnan(from_bits(uint32_t{out[8]} << 16))) << target;
    EXPECT_TRUE(std::isnan(from_bits(uint32_t{out[9]} << 16))) << target;
  }
  force_simd_target("");
}

TEST(Bf16, PrecisionNamesParseAndBadNameIsAnError) {
  EXPECT_EQ(nn::parse_matmul_precision("bf16"), nn::MatmulPrecision::kBf16);
  EXPECT_EQ(nn::to_string(nn::parse_matmul_precision("fp32")), "fp32");
  EXPECT_THROW(nn::parse_matmul_precision("fp16"), Error);
}

TEST(Bf16, PrecisionInEffectIsFp32UnlessSupported) {
  nn::set_matmul_precision(nn::MatmulPrecision::kBf16);
  EXPECT_EQ(nn::matmul_precision(),
            nn::bf16_matmul_supported() ? nn::MatmulPrecision::kBf16 : nn::MatmulPrecision::kFp32);
  nn::set_matmul_precision(nn::MatmulPrecision::kFp32);
  EXPECT_EQ(nn::matmul_precision(), nn::MatmulPrecision::kFp32);
}

// Largest |a − b| over the largest |b|.
double relative_error(const Tensor& a, const Tensor& b) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    err = std::max(err, double(std::fabs(a.data()[i] - b.data()[i])));
    scale = std::max(scale, double(std::fabs(b.data()[i])));
  }
  return err / scale;
}

// Output, input gradient and weight and bias gradients of one forward and backward pass.
struct LinearResult {
  Tensor y, dx, dw, db;
};

LinearResult run_linear(nn::MatmulPrecision precision, const Tensor& x, const Tensor& dy) {
  nn::set_matmul_precision(precision);
  nn::Linear layer(96, 80, /*bias=*/true, /*seed=*/3);
  randomize_parameters(layer.parameters(), 11);
  LinearResult r;
  r.y = layer.forward(x);
  r.dx = layer.backward(dy);
  r.dw = nn::clone(layer.weight_grad());
  r.db = nn::clone(layer.bias_grad());
  nn::set_matmul_precision(nn::MatmulPrecision::kFp32);
  return r;
}

TEST(Bf16, LinearProductsTrackFp32WithinBf16Rounding) {
  if (!nn::bf16_matmul_supported()) GTEST_SKIP() << "no bf16 instructions on this CPU";
  const Tensor x = random_tensor({3, 37, 96}, 12);
  const Tensor dy = random_tensor({3, 37, 80}, 13);
  const LinearResult ref = run_linear(nn::MatmulPrecision::kFp32, x, dy);
  const LinearResult got = run_linear(nn::MatmulPrecision::kBf16, x, dy);
  // Inputs rounded to 8 significant bits (relative 2⁻⁹ each): sums of 96 or 111 random-sign
  // products land well within 1% of the largest output; identical results would mean bf16 was
  // never used.
  const std::tuple<const char*, const Tensor*, const Tensor*> outputs[] = {
      {"y", &got.y, &ref.y}, {"dx", &got.dx, &ref.dx}, {"dw", &got.dw, &ref.dw}};
  for (const auto& [name, a, b] : outputs) {
    const double err = relative_error(*a, *b);
    EXPECT_LT(err, 1e-2) << name;
    EXPECT_GT(err, 0.0) << name;
  }
  EXPECT_LT(relative_error(got.db, ref.db), 1e-6);  // the bias gradient stays fp32
}

}  // namespace
}  // namespace attn::testing
