// End-to-end tests of the attn command-line tool: `attn sdpa` with the flash kernel against
// `--impl reference` on the same files, its rejection of bad input, and `attn bench --json`.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attn/core/element_type.h"
#include "attn/io/npy.h"
#include "cli_test_util.h"
#include "test_util.h"

namespace attn {
namespace {

using cli_testing::CliRun;
using cli_testing::CliTest;
using cli_testing::is_one_error_line;
using cli_testing::kExitFailure;
using cli_testing::kExitUsage;
using cli_testing::max_diff;
using cli_testing::read_floats;
using cli_testing::Sizes;
using cli_testing::with_option;
using cli_testing::write_bool;
using cli_testing::write_f16;
using cli_testing::write_f64;
using cli_testing::write_i32;
using cli_testing::write_i64;
using testing::random_floats;

// ---------------------------------------------------------------- flash against the reference

TEST_F(CliTest, PlainMatchesReference) { expect_flash_matches_reference(qkv(Sizes{})); }

TEST_F(CliTest, CausalBottomRightMatchesReference) {
  expect_flash_matches_reference(qkv(Sizes{}) + " --causal");
}

TEST_F(CliTest, CausalTopLeftMatchesReference) {
  expect_flash_matches_reference(qkv(Sizes{}) + " --causal --causal-align top-left");
}

TEST_F(CliTest, SlidingWindowMatchesReference) {
  expect_flash_matches_reference(qkv(Sizes{}) + " --window-left 5 --window-right 3");
}

TEST_F(CliTest, BoolMask2dBroadcastMatchesReference) {
  const Sizes s;
  std::vector<uint8_t> mask(static_cast<size_t>(s.lq * s.lk));
  const std::vector<float> u = random_floats(mask.size(), 7, 0.0f, 1.0f);
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = u[i] < 0.7f;
  write_bool(file("mask.npy"), mask, {s.lq, s.lk});
  expect_flash_matches_reference(qkv(s) + " --mask " + file("mask.npy"));
}

TEST_F(CliTest, FloatMask2dBroadcastMatchesReference) {
  const Sizes s;
  write_npy(file("mask.npy"), random_floats(s.lq * s.lk, 8, -2.0f, 2.0f).data(), {s.lq, s.lk});
  expect_flash_matches_reference(qkv(s) + " --mask " + file("mask.npy"));
}

TEST_F(CliTest, FloatMaskBroadcastOverBatchMatchesReference) {
  const Sizes s;
  std::vector<float> mask = random_floats(s.hq * s.lq * s.lk, 9, -2.0f, 2.0f);
  mask[5] = -INFINITY;
  write_npy(file("mask.npy"), mask.data(), {1, s.hq, s.lq, s.lk});
  expect_flash_matches_reference(qkv(s) + " --mask " + file("mask.npy"));
}

TEST_F(CliTest, KeyLengthsMatchReferenceIncludingAnEmptyBatch) {
  const Sizes s;
  write_i64(file("kl.npy"), {s.lk - 11, 0}, {s.b});
  expect_flash_matches_reference(qkv(s) + " --key-lengths " + file("kl.npy"), {.lse = true});
}

TEST_F(CliTest, Int32KeyLengthsWithCausalMatchReference) {
  const Sizes s;
  write_i32(file("kl.npy"), {30, static_cast<int32_t>(s.lk)}, {s.b});
  expect_flash_matches_reference(qkv(s) + " --causal --key-lengths " + file("kl.npy"));
}

TEST_F(CliTest, AlibiMatchesReference) {
  const Sizes s;
  write_npy(file("slopes.npy"), random_floats(s.hq, 10, 0.05f, 0.5f).data(), {s.hq});
  expect_flash_matches_reference(qkv(s) + " --alibi " + file("slopes.npy"));
}

TEST_F(CliTest, SoftcapWithScaleMatchesReference) {
  expect_flash_matches_reference(qkv(Sizes{}) + " --scale 2.5 --softcap 3");
}

TEST_F(CliTest, GroupedQueryAttentionMatchesReference) {
  expect_flash_matches_reference(qkv(Sizes{.hq = 4, .hkv = 2}) + " --causal");
}

TEST_F(CliTest, LseMatchesReference) {
  expect_flash_matches_reference(qkv(Sizes{}) + " --causal", {.lse = true});
}

TEST_F(CliTest, WeightsMatchReference) {
  expect_flash_matches_reference(qkv(Sizes{}), {.weights = true});
}

TEST_F(CliTest, WeightsWithEveryOptionMatchReference) {
  const Sizes s{.hq = 4, .hkv = 2};
  write_i64(file("kl.npy"), {s.lk, 17}, {s.b});
  write_npy(file("slopes.npy"), random_floats(s.hq, 11, 0.05f, 0.5f).data(), {s.hq});
  write_npy(file("mask.npy"), random_floats(s.hq * s.lq * s.lk, 12).data(), {s.hq, s.lq, s.lk});
  expect_flash_matches_reference(qkv(s) + " --causal --window-left 9 --softcap 4 --key-lengths " +
                                     file("kl.npy") + " --alibi " + file("slopes.npy") +
                                     " --mask " + file("mask.npy"),
                                 {.lse = true, .weights = true});
}

TEST_F(CliTest, WeightsOfLongKeysAreStreamedInChunks) {
  // 40 × 30000 weights per head: more than one 1 Mi-element chunk.
  expect_flash_matches_reference(
      qkv(Sizes{.b = 1, .hq = 2, .hkv = 1, .lq = 40, .lk = 30000, .d = 8, .dv = 8}) + " --causal",
      {.weights = true});
}

TEST_F(CliTest, BlhdLayoutGivesTheSameOutputAsBhld) {
  const Sizes s{.hq = 4, .hkv = 2};
  const std::string bhld = qkv(s);
  // The same tensors transposed to [B, L, H, D].
  const std::string blhd = " --q " + transposed("q.npy") + " --k " + transposed("k.npy") + " --v " +
                           transposed("v.npy") + " --layout blhd --causal";
  expect_flash_matches_reference(blhd);
  ASSERT_EQ(run("sdpa" + bhld + " --causal --out " + file("bhld.npy")).status, 0);
  EXPECT_LT(max_diff(read_floats(file("flash_out.npy")), read_floats(file("bhld.npy"))), 1e-6);
}

TEST_F(CliTest, Float64InputsGiveTheSameOutputAsFloat32) {
  const Sizes s;
  const std::string f32 = qkv(s);
  std::string f64;
  for (const char* name : {"q", "k", "v"}) {
    const NpyArray a = read_npy(file(std::string(name) + ".npy"));
    const std::vector<float> x = a.to_float32();
    write_f64(file(std::string(name) + "64.npy"), {x.begin(), x.end()}, a.shape);
    f64 += std::string(" --") + name + " " + file(std::string(name) + "64.npy");
  }
  expect_flash_matches_reference(f64);
  ASSERT_EQ(run("sdpa" + f32 + " --out " + file("f32.npy")).status, 0);
  EXPECT_LT(max_diff(read_floats(file("flash_out.npy")), read_floats(file("f32.npy"))), 1e-6);
}

TEST_F(CliTest, OutputsAreFloat32InBhldOrder) {
  const Sizes s{.hq = 4, .hkv = 2};
  ASSERT_EQ(run("sdpa" + qkv(s) + " --out " + file("o.npy") + " --lse " + file("lse.npy") +
                " --weights " + file("w.npy"))
                .status,
            0);
  EXPECT_EQ(read_npy(file("o.npy")).shape, (std::vector<int64_t>{s.b, s.hq, s.lq, s.dv}));
  EXPECT_EQ(read_npy(file("lse.npy")).shape, (std::vector<int64_t>{s.b, s.hq, s.lq}));
  const NpyArray w = read_npy(file("w.npy"));
  EXPECT_EQ(w.dtype, DType::kFloat32);
  EXPECT_EQ(w.shape, (std::vector<int64_t>{s.b, s.hq, s.lq, s.lk}));
}

// ---------------------------------------------------------------- gradients

TEST_F(CliTest, GradientsMatchReference) {
  const Sizes s{.hq = 4, .hkv = 2};
  expect_flash_matches_reference(qkv(s) + dout(s) + " --causal --softcap 4", {.gradients = true});
}

TEST_F(CliTest, DropoutMatchesReferenceWithGradients) {
  const Sizes s{.hq = 4, .hkv = 2};
  expect_flash_matches_reference(qkv(s) + dout(s) + " --causal --dropout 0.3 --dropout-seed 5",
                                 {.lse = true, .gradients = true});
  // Another seed gives another output; the same seed the same.
  ASSERT_EQ(run("sdpa" + qkv(s) + " --dropout 0.3 --dropout-seed 6 --out " + file("a.npy")).status,
            0);
  ASSERT_EQ(run("sdpa" + qkv(s) + " --dropout 0.3 --dropout-seed 6 --out " + file("b.npy")).status,
            0);
  ASSERT_EQ(run("sdpa" + qkv(s) + " --dropout 0.3 --dropout-seed 7 --out " + file("c.npy")).status,
            0);
  EXPECT_EQ(max_diff(read_floats(file("a.npy")), read_floats(file("b.npy"))), 0.0);
  EXPECT_GT(max_diff(read_floats(file("a.npy")), read_floats(file("c.npy"))), 1e-3);
}

TEST_F(CliTest, GradientsWithEveryOptionMatchReference) {
  const Sizes s{.hq = 4, .hkv = 2};
  write_i64(file("kl.npy"), {s.lk, 17}, {s.b});
  write_npy(file("slopes.npy"), random_floats(s.hq, 13, 0.05f, 0.5f).data(), {s.hq});
  write_npy(file("mask.npy"), random_floats(s.lq * s.lk, 14).data(), {s.lq, s.lk});
  expect_flash_matches_reference(qkv(s) + dout(s) + " --window-left 9 --window-right 2" +
                                     " --key-lengths " + file("kl.npy") + " --alibi " +
                                     file("slopes.npy") + " --mask " + file("mask.npy"),
                                 {.lse = true, .gradients = true});
}

TEST_F(CliTest, Bf16AndF16MatchTheReferenceOnTheRoundedInputs) {
  const Sizes s{.hq = 4, .hkv = 2};
  for (const std::string dtype : {"bf16", "f16"}) {
    SCOPED_TRACE(dtype);
    expect_flash_matches_reference(qkv(s) + dout(s) + " --causal --softcap 4 --dtype " + dtype,
                                   {.lse = true, .gradients = true});
  }
}

TEST_F(CliTest, DtypeRoundsTheInputs) {
  const std::string args = qkv(Sizes{}) + " --out ";
  ASSERT_EQ(run("sdpa" + args + file("f32.npy")).status, 0);
  ASSERT_EQ(run("sdpa" + args + file("bf16.npy") + " --dtype BF16").status, 0);
  ASSERT_EQ(run("sdpa" + args + file("f16.npy") + " --dtype f16").status, 0);
  const std::vector<float> f32 = read_floats(file("f32.npy"));
  const double bf16 = max_diff(f32, read_floats(file("bf16.npy")));
  const double f16 = max_diff(f32, read_floats(file("f16.npy")));
  EXPECT_GT(bf16, 1e-4);  // 8 bits of mantissa
  EXPECT_LT(bf16, 5e-2);
  EXPECT_LT(f16, bf16);  // 11 bits
}

// A float16 .npy file holds f16 values exactly: --dtype f16 on the float16 files gives the
// output of the float32 files that hold the same values.
TEST_F(CliTest, ReadsFloat16FilesForDtypeF16) {
  const Sizes s{};
  const std::string f32_args = qkv(s);
  for (const char* name : {"q", "k", "v"}) {
    const NpyArray a = read_npy(file(std::string(name) + ".npy"));
    std::vector<uint16_t> bits;
    std::vector<float> rounded;
    for (float x : a.to_float32()) {
      bits.push_back(from_float(x, ElementType::kF16));
      rounded.push_back(to_float(bits.back(), ElementType::kF16));
    }
    write_f16(file(std::string(name) + "16.npy"), bits, a.shape);
    write_npy(file(std::string(name) + ".npy"), rounded.data(), a.shape);
  }
  ASSERT_EQ(run("sdpa" + f32_args + " --dtype f16 --out " + file("o32.npy")).status, 0);
  const CliRun r = run("sdpa --q " + file("q16.npy") + " --k " + file("k16.npy") + " --v " +
                       file("v16.npy") + " --dtype f16 --out " + file("o16.npy"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_floats(file("o16.npy")), read_floats(file("o32.npy")));
}

TEST_F(CliTest, RejectsUnknownDtype) {
  const CliRun r = run("sdpa" + qkv(Sizes{}) + " --dtype f8 --out " + file("o.npy"));
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
}

TEST_F(CliTest, GradientsHaveTheShapesOfQKVInBhldOrderForBlhdInputs) {
  const Sizes s{.hq = 4, .hkv = 2};
  const std::string bhld = qkv(s) + dout(s);
  const std::string blhd = " --q " + transposed("q.npy") + " --k " + transposed("k.npy") + " --v " +
                           transposed("v.npy") + " --dout " + file("dout.npy") + " --layout blhd";
  expect_flash_matches_reference(blhd, {.gradients = true});
  EXPECT_EQ(read_npy(file("flash_dq.npy")).shape, (std::vector<int64_t>{s.b, s.hq, s.lq, s.d}));
  EXPECT_EQ(read_npy(file("flash_dk.npy")).shape, (std::vector<int64_t>{s.b, s.hkv, s.lk, s.d}));
  EXPECT_EQ(read_npy(file("flash_dv.npy")).shape, (std::vector<int64_t>{s.b, s.hkv, s.lk, s.dv}));
  ASSERT_EQ(run("sdpa" + bhld + " --out " + file("o.npy") + " --dq " + file("bhld_dq.npy")).status,
            0);
  EXPECT_LT(max_diff(read_floats(file("flash_dq.npy")), read_floats(file("bhld_dq.npy"))), 1e-6);
}

// ---------------------------------------------------------------- packed sequences

TEST_F(CliTest, PackedSequencesMatchReferenceWithGradients) {
  const Sizes s{.b = 1, .hq = 4, .hkv = 2, .lq = 30, .lk = 40};
  write_i32(file("cu_q.npy"), {0, 7, 7, 25, 30}, {5});
  write_i32(file("cu_k.npy"), {0, 10, 13, 33, 40}, {5});
  expect_flash_matches_reference(qkv(s) + dout(s) + " --causal --dropout 0.2 --dropout-seed 3" +
                                     " --cu-seqlens-q " + file("cu_q.npy") + " --cu-seqlens-k " +
                                     file("cu_k.npy"),
                                 {.lse = true, .weights = true, .gradients = true});
}

// Packed, each sequence's output is that of the sequence alone.
TEST_F(CliTest, PackedSequenceIsTheSequenceAloneInBlhdLayout) {
  const Sizes s{.b = 1, .hq = 2, .hkv = 2, .lq = 20, .lk = 20};
  const std::string packed = qkv(s);
  write_i32(file("cu.npy"), {0, 8, 20}, {3});
  ASSERT_EQ(run("sdpa --q " + transposed("q.npy") + " --k " + transposed("k.npy") + " --v " +
                transposed("v.npy") + " --layout blhd --causal --cu-seqlens-q " + file("cu.npy") +
                " --cu-seqlens-k " + file("cu.npy") + " --out " + file("packed.npy"))
                .status,
            0);
  const std::vector<float> q = read_floats(file("q.npy")), k = read_floats(file("k.npy")),
                           v = read_floats(file("v.npy")), out = read_floats(file("packed.npy"));
  // The second sequence: rows 8 .. 20 of each head, as its own [1, H, 12, D] problem.
  const auto rows = [&](const std::vector<float>& x, int64_t dim) {
    std::vector<float> part;
    for (int64_t h = 0; h < 2; ++h) {
      part.insert(part.end(), x.begin() + (h * 20 + 8) * dim, x.begin() + (h * 20 + 20) * dim);
    }
    return part;
  };
  write_npy(file("q2.npy"), rows(q, s.d).data(), {1, 2, 12, s.d});
  write_npy(file("k2.npy"), rows(k, s.d).data(), {1, 2, 12, s.d});
  write_npy(file("v2.npy"), rows(v, s.dv).data(), {1, 2, 12, s.dv});
  ASSERT_EQ(run("sdpa --q " + file("q2.npy") + " --k " + file("k2.npy") + " --v " + file("v2.npy") +
                " --causal --out " + file("alone.npy"))
                .status,
            0);
  EXPECT_EQ(max_diff(rows(out, s.dv), read_floats(file("alone.npy"))), 0.0);
}

TEST_F(CliTest, RejectsBadPackedSequences) {
  const Sizes s{.b = 1, .lq = 30, .lk = 40};
  write_i32(file("cu_q.npy"), {0, 7, 30}, {3});
  write_i32(file("cu_k.npy"), {0, 10, 39}, {3});
  const std::string cu = " --cu-seqlens-q " + file("cu_q.npy") + " --cu-seqlens-k ";
  expect_rejected(qkv(s) + cu + file("cu_k.npy"), "must equal total keys Lk=40");
  write_i32(file("cu_k3.npy"), {0, 40}, {2});
  expect_rejected(qkv(s) + cu + file("cu_k3.npy"), "--cu-seqlens-k");
  expect_rejected(qkv(s) + " --cu-seqlens-q " + file("cu_q.npy"), "together");
  expect_rejected(qkv(Sizes{.b = 2, .lq = 30, .lk = 40}) + cu + file("cu_k.npy"), "batch of one");
}

TEST_F(CliTest, RejectsDoutOfTheWrongShape) {
  const Sizes s;
  write_npy(file("dout.npy"), random_floats(s.b * s.hq * s.lq * s.d, 1).data(),
            {s.b, s.hq, s.lq, s.d});  // D = 16 where Dv = 12
  expect_rejected(qkv(s) + " --dout " + file("dout.npy") + " --dq " + file("rejected_dq.npy"),
                  "--dout");
}

TEST_F(CliTest, RejectsGradientsWithoutDout) {
  expect_rejected(qkv(Sizes{}) + " --dk " + file("rejected_dk.npy"), "--dout", kExitUsage);
}

TEST_F(CliTest, RejectsDoutWithoutAGradientOutput) {
  const Sizes s;
  expect_rejected(qkv(s) + dout(s), "--dout", kExitUsage);
}

// ---------------------------------------------------------------- bad input

TEST_F(CliTest, RejectsMissingFile) {
  const std::string args = qkv(Sizes{});
  expect_rejected(with_option(args, "--q", file("missing.npy")), "--q");
}

TEST_F(CliTest, RejectsBadMagic) {
  expect_rejected(with_option(qkv(Sizes{}), "--k", data_file("bad_magic.npy")), "bad_magic.npy");
}

TEST_F(CliTest, RejectsTruncatedFile) {
  expect_rejected(with_option(qkv(Sizes{}), "--v", data_file("truncated.npy")), "truncated.npy");
}

TEST_F(CliTest, RejectsFortranOrder) {
  expect_rejected(with_option(qkv(Sizes{}), "--q", data_file("fortran.npy")), "fortran.npy");
}

TEST_F(CliTest, RejectsMismatchedBatch) {
  write_npy(file("k3.npy"), random_floats(3 * 4 * 40 * 16, 1).data(), {3, 4, 40, 16});
  expect_rejected(with_option(qkv(Sizes{}), "--k", file("k3.npy")), "batch");
}

TEST_F(CliTest, RejectsMismatchedHeadDim) {
  const std::string args = qkv(Sizes{});
  write_npy(file("k.npy"), random_floats(2 * 4 * 40 * 8, 1).data(), {2, 4, 40, 8});
  expect_rejected(args, "head dim");
}

TEST_F(CliTest, RejectsMismatchedKeyAndValueLengths) {
  const std::string args = qkv(Sizes{});
  write_npy(file("v.npy"), random_floats(2 * 4 * 41 * 12, 1).data(), {2, 4, 41, 12});
  expect_rejected(args, "length");
}

TEST_F(CliTest, RejectsWrongRank) {
  write_npy(file("q3.npy"), random_floats(4 * 24 * 16, 1).data(), {4, 24, 16});
  expect_rejected(with_option(qkv(Sizes{}), "--q", file("q3.npy")), "4-D");
}

TEST_F(CliTest, RejectsZeroSizedDimension) {
  write_f64(file("q0.npy"), {}, {2, 4, 0, 16});
  expect_rejected(with_option(qkv(Sizes{}), "--q", file("q0.npy")), "[2, 4, 0, 16]");
}

TEST_F(CliTest, RejectsQueryHeadsNotAMultipleOfKvHeads) {
  expect_rejected(qkv(Sizes{.hq = 3, .hkv = 2}), "multiple");
}

TEST_F(CliTest, RejectsNanScale) {
  expect_rejected(qkv(Sizes{}) + " --scale nan", "--scale must be a finite number", kExitUsage);
}

TEST_F(CliTest, RejectsInfiniteScale) {
  expect_rejected(qkv(Sizes{}) + " --scale inf", "--scale must be a finite number", kExitUsage);
}

TEST_F(CliTest, RejectsScaleThatIsNotANumber) {
  expect_rejected(qkv(Sizes{}) + " --scale abc", "--scale", kExitUsage);
}

TEST_F(CliTest, RejectsNegativeSoftcap) {
  expect_rejected(qkv(Sizes{}) + " --softcap -1", "--softcap must be at least 0, got -1",
                  kExitUsage);
}

TEST_F(CliTest, RejectsDropoutOutsideZeroOne) {
  for (const char* p : {"1", "-0.1", "nan", "2"}) {
    SCOPED_TRACE(p);
    expect_rejected(qkv(Sizes{}) + " --dropout=" + p, "--dropout must be in [0, 1)", kExitUsage);
  }
}

TEST_F(CliTest, RejectsNegativeKeyLengths) {
  write_i64(file("kl.npy"), {5, -1}, {2});
  expect_rejected(qkv(Sizes{}) + " --key-lengths " + file("kl.npy"), "-1");
}

TEST_F(CliTest, RejectsKeyLengthsBeyondLk) {
  write_i64(file("kl.npy"), {5, 41}, {2});
  expect_rejected(qkv(Sizes{}) + " --key-lengths " + file("kl.npy"), "--key-lengths");
}

TEST_F(CliTest, RejectsKeyLengthsOfTheWrongShape) {
  write_i64(file("kl.npy"), {5, 6, 7}, {3});
  expect_rejected(qkv(Sizes{}) + " --key-lengths " + file("kl.npy"), "[3]");
}

TEST_F(CliTest, RejectsSlopesOfTheWrongShape) {
  write_npy(file("slopes.npy"), random_floats(3, 1).data(), {3});
  expect_rejected(qkv(Sizes{}) + " --alibi " + file("slopes.npy"), "--alibi");
}

TEST_F(CliTest, RejectsMaskThatDoesNotBroadcast) {
  write_npy(file("mask.npy"), random_floats(24 * 39, 1).data(), {24, 39});
  expect_rejected(qkv(Sizes{}) + " --mask " + file("mask.npy"), "[24, 39]");
}

TEST_F(CliTest, RejectsUnknownImpl) {
  expect_rejected(qkv(Sizes{}) + " --impl fast",
                  "--impl must be one of flash | reference, got 'fast'", kExitUsage);
}

TEST_F(CliTest, RejectsMissingRequiredOption) {
  const CliRun r = run("sdpa --q " + file("q.npy"));
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
}

TEST_F(CliTest, UnknownOptionIsAUsageError) {
  const CliRun r = run("sdpa --no-such-option" + qkv(Sizes{}) + " --out " + file("o.npy"));
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
}

TEST_F(CliTest, BadInputFileIsAFailureNotAUsageError) {
  const CliRun r = run("sdpa" + with_option(qkv(Sizes{}), "--q", file("missing.npy")) + " --out " +
                       file("o.npy"));
  EXPECT_EQ(r.status, kExitFailure);
  EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
}

TEST_F(CliTest, BoundErrorNamesTheOptionAndItsBound) {
  const CliRun r = run("bench --case forward --batch 0 --len 8 --json --no-peak");
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_EQ(r.err, "attn: --batch must be at least 1, got 0\n");
}

TEST_F(CliTest, ThreadsMustBePositive) {
  const CliRun r = run("sdpa" + qkv(Sizes{}) + " --threads 0 --out " + file("o.npy"));
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_EQ(r.err, "attn: --threads must be at least 1, got 0\n");
}

TEST_F(CliTest, ChoicesIgnoreCase) {
  const CliRun r =
      run("bench --case decode --heads 2 --kv-len 16 --dim 8 --kv-dtype Q8 "
          "--layout PAGED --threads 1 --reps 1 --json --no-peak");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["kv_dtype"], "q8");
}

TEST_F(CliTest, PrintsVersion) {
  const CliRun r = run("--version");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out.rfind("attn ", 0), 0u) << r.out;
}

// ---------------------------------------------------------------- bench

TEST_F(CliTest, BenchCasePrintsOneJsonLineWithEveryField) {
  const CliRun r =
      run("bench --case forward --batch 1 --heads 2 --kv-heads 1 --len 8 --kv-len 16 --dim 8 "
          "--dim-v 4 --causal --threads 1 --reps 2 --json --no-peak");
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* key :
       {"case", "batch", "heads", "kv_heads", "len", "kv_len", "dim", "causal", "threads", "ms",
        "gflops", "peak_rss_mib", "fma_peak_gflops", "peak_fraction", "simd_target"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["case"], "forward");
  EXPECT_EQ(j["kv_heads"], 1);
  EXPECT_EQ(j["kv_len"], 16);
  EXPECT_EQ(j["causal"], true);
  EXPECT_TRUE(j["fma_peak_gflops"].is_null());
  EXPECT_GT(j["peak_rss_mib"].get<double>(), 0.0);
  // Bottom-right causal, Lq=8, Lk=16: query i sees i + 9 keys, 100 pairs per head; each pair
  // costs 2·(D + Dv) FLOPs.
  const double flops = j["gflops"].get<double>() * j["ms"].get<double>() * 1e6;
  EXPECT_NEAR(flops, 2 * 100 * 2 * (8 + 4), 1e-6 * flops);
}

TEST_F(CliTest, BenchDecodeCasePrintsBandwidthFields) {
  const CliRun r =
      run("bench --case decode --batch 2 --heads 4 --kv-heads 2 --kv-len 100 --dim 32 "
          "--kv-dtype q8 --layout paged --threads 1 --reps 2 --json --no-peak");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* key :
       {"ms", "gflops", "kv_gbps", "read_bw_gbps", "bw_fraction", "kv_dtype", "layout"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["kv_dtype"], "q8");
  EXPECT_EQ(j["layout"], "paged");
  EXPECT_EQ(j["len"], 1);
  EXPECT_TRUE(j["read_bw_gbps"].is_null());
  // One step: 4·B·Hq·Lk·D FLOPs, and B·Lk tokens of Hkv rows of 32 codes + 1 scale for K and V.
  const double seconds = j["ms"].get<double>() * 1e-3;
  EXPECT_NEAR(j["gflops"].get<double>() * 1e9 * seconds, 4.0 * 2 * 4 * 100 * 32, 1e-3);
  EXPECT_NEAR(j["kv_gbps"].get<double>() * 1e9 * seconds, 2.0 * 100 * 2 * 2 * (32 + 4), 1e-6);
}

TEST_F(CliTest, BenchDecodeNeedsTheCacheLength) {
  const CliRun r = run("bench --case decode --heads 4 --json --no-peak");
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
}

TEST_F(CliTest, BenchDtypeAppliesToForwardAndBackwardOnly) {
  for (const std::string c : {"decode --kv-len 16", "varlen --len 64"}) {
    const CliRun r = run("bench --case " + c + " --heads 2 --dim 8 --dtype bf16 --json --no-peak");
    EXPECT_EQ(r.status, kExitUsage) << c;
    EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
    EXPECT_NE(r.err.find("--dtype applies to --case forward and backward"), std::string::npos)
        << r.err;
  }
}

TEST_F(CliTest, BenchBackwardCountsTwoAndAHalfForwards) {
  const CliRun r =
      run("bench --case backward --batch 1 --heads 2 --kv-heads 1 --len 8 --kv-len 16 --dim 8 "
          "--dim-v 4 --causal --threads 1 --reps 2 --json --no-peak");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["case"], "backward");
  // The forward's 2 · 100 · 2 · (8 + 4) FLOPs of BenchCasePrintsOneJsonLineWithEveryField, × 2.5.
  const double flops = j["gflops"].get<double>() * j["ms"].get<double>() * 1e6;
  EXPECT_NEAR(flops, 2.5 * 2 * 100 * 2 * (8 + 4), 1e-6 * flops);
}

// One sequence of 16 beside 60 of 4 (causal): the useful FLOPs, and both yardsticks timed.
TEST_F(CliTest, BenchVarlenCasesReportTheirYardsticks) {
  for (const std::string name : {"varlen", "varlen-backward"}) {
    const CliRun r = run("bench --case " + name +
                         " --heads 2 --len 16 --kv-len 4 --dim 8 --causal --threads 1 --reps 1 "
                         "--json --no-peak");
    ASSERT_EQ(r.status, 0) << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["case"], name);
    EXPECT_EQ(j["short_sequences"], 60);
    EXPECT_GT(j["padded_ms"].get<double>(), 0.0);
    EXPECT_GT(j["alone_ms"].get<double>(), 0.0);
    // Visible pairs: 16·17/2 + 60 · 4·5/2 = 736, each 2 · (8 + 8) FLOPs per head.
    const double flops = j["gflops"].get<double>() * j["ms"].get<double>() * 1e6;
    const double forward = 2.0 * 736 * 2 * (8 + 8);
    EXPECT_NEAR(flops, (name == "varlen" ? 1.0 : 2.5) * forward, 1e-6 * flops);
  }
}

TEST_F(CliTest, BenchForwardAndBackwardTakeADtype) {
  for (const std::string c : {"forward", "backward"}) {
    const CliRun r = run("bench --case " + c +
                         " --heads 2 --len 8 --dim 8 --dtype bf16 --threads 1 --reps 1 --json "
                         "--no-peak");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["dtype"], "bf16");
  }
}

TEST_F(CliTest, BenchRejectsUnknownCase) {
  const CliRun r = run("bench --case sideways --len 8 --json --no-peak");
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
}

}  // namespace
}  // namespace attn
