// The attn tool under mpiexec: `attn sdpa` runs ring attention and writes what the single process
// writes; bad input stops the whole job with one line and no output; `attn bench --case ring`
// reports its JSON line. Every job runs under `timeout`, so a hang fails its test.

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "attn/io/npy.h"
#include "cli_test_util.h"
#include "test_util.h"

namespace attn::cli_testing {
namespace {

// Agreement of the ring with the single process: the ring merges partial results in double and
// sums dK/dV over the ranks in another order, so the last bits differ.
// Seen: up to 5e-7 on these sizes.
constexpr double kOutputTolerance = 2e-6;
constexpr double kGradientTolerance = 5e-6;

// Seconds a job may take before `timeout` ends it (exit status 124).
constexpr int kJobSeconds = 120;
constexpr int kTimedOut = 124;

// "timeout 120 mpiexec … -np P".
std::string mpiexec(int ranks) {
  return "timeout " + std::to_string(kJobSeconds) + " " + ATTN_MPIEXEC + " -np " +
         std::to_string(ranks);
}

// The lines of `err` that attn printed (mpiexec adds its own banners around a failed job).
std::vector<std::string> attn_lines(const std::string& err) {
  std::vector<std::string> lines;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("attn: ", 0) == 0) lines.push_back(line);
  }
  return lines;
}

const char* const kOutputs[] = {"out", "lse", "dq", "dk", "dv"};

class RingCliTest : public CliTest {
 protected:
  // " --out <prefix>_out.npy --lse <prefix>_lse.npy", and " --dq … --dk … --dv …" with
  // `gradients`.
  std::string outputs(const std::string& prefix, bool gradients = true) const {
    std::string args;
    for (const std::string name : kOutputs) {
      if (name[0] == 'd' && !gradients) break;
      args += " --" + name + " " + file(prefix + "_" + name + ".npy");
    }
    return args;
  }

  // Runs `sdpa <args>` in one process and under mpiexec with `ranks` ranks and `sharding`, and
  // expects the same outputs.
  void expect_ring_matches_single(const std::string& args, int ranks, const std::string& sharding) {
    const CliRun single = run("sdpa" + args + outputs("single"));
    ASSERT_EQ(single.status, 0) << single.err;
    const CliRun ring =
        run_under(mpiexec(ranks), "sdpa" + args + " --sharding " + sharding + outputs("ring"));
    ASSERT_EQ(ring.status, 0) << ring.err;
    EXPECT_EQ(ring.err, "");
    for (const std::string name : kOutputs) {
      const std::vector<float> a = read_floats(file("single_" + name + ".npy"));
      const std::vector<float> b = read_floats(file("ring_" + name + ".npy"));
      const bool gradient = name[0] == 'd';
      EXPECT_LE(max_diff(a, b), gradient ? kGradientTolerance : kOutputTolerance)
          << name << ", " << ranks << " ranks, " << sharding;
      EXPECT_EQ(read_npy(file("single_" + name + ".npy")).shape,
                read_npy(file("ring_" + name + ".npy")).shape)
          << name;
    }
  }

  // Runs `sdpa <args>` with every output (gradients when args give --dout) under mpiexec and
  // expects exit status `status`, exactly
  // one line from attn that contains `needle`, and no output file.
  void expect_job_rejected(int ranks, const std::string& args, const std::string& needle,
                           int status = kExitFailure) {
    const bool gradients = args.find("--dout") != std::string::npos;
    const CliRun r = run_under(mpiexec(ranks), "sdpa" + args + outputs("rejected", gradients));
    EXPECT_EQ(r.status, status) << r.err;
    const std::vector<std::string> lines = attn_lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_NE(lines[0].find(needle), std::string::npos) << "'" << needle << "' not in: " << r.err;
    for (const auto& entry : std::filesystem::directory_iterator(file(""))) {
      EXPECT_EQ(entry.path().filename().string().rfind("rejected", 0), std::string::npos)
          << entry.path() << " was created";
    }
  }
};

// ---------------------------------------------------------------- the ring equals one process

struct RingCase {
  int ranks;
  const char* sharding;
  bool causal;
  int64_t hq, hkv;
};

class RingSdpaTest : public RingCliTest, public ::testing::WithParamInterface<RingCase> {};

// "P3_zigzag_causal_Hq6_Hkv3", for the test's name and its failure messages.
std::string describe(const RingCase& c) {
  std::ostringstream name;
  name << 'P' << c.ranks << '_' << c.sharding << (c.causal ? "_causal" : "") << "_Hq" << c.hq
       << "_Hkv" << c.hkv;
  return name.str();
}
void PrintTo(const RingCase& c, std::ostream* os) { *os << describe(c); }
std::string case_name(const ::testing::TestParamInfo<RingCase>& info) {
  return describe(info.param);
}

TEST_P(RingSdpaTest, OutputsAndGradientsEqualSingleProcess) {
  const RingCase c = GetParam();
  const Sizes s{.b = 2, .hq = c.hq, .hkv = c.hkv, .lq = 24, .lk = 24, .d = 16, .dv = 12};
  const std::string args = qkv(s) + dout(s) + (c.causal ? " --causal" : "");
  expect_ring_matches_single(args, c.ranks, c.sharding);
}

INSTANTIATE_TEST_SUITE_P(
    Ranks, RingSdpaTest,
    ::testing::Values(RingCase{2, "zigzag", true, 4, 4}, RingCase{2, "contiguous", false, 4, 2},
                      RingCase{3, "contiguous", true, 4, 2}, RingCase{3, "zigzag", true, 6, 3},
                      RingCase{4, "zigzag", true, 4, 1}, RingCase{4, "contiguous", false, 2, 2}),
    case_name);

TEST_F(RingCliTest, OptionsAndBlhdLayoutEqualSingleProcess) {
  const Sizes s{.b = 2, .hq = 4, .hkv = 2, .lq = 24, .lk = 24, .d = 16, .dv = 12};
  qkv(s);
  write_i64(file("lengths.npy"), {24, 17}, {2});
  write_npy(file("alibi.npy"), testing::random_floats(4, 5, 0.0f, 0.5f).data(), {4});
  const std::string args = " --q " + transposed("q.npy") + " --k " + transposed("k.npy") + " --v " +
                           transposed("v.npy") + " --layout blhd" + dout(s) +
                           " --causal --causal-align top-left --window-left 9 --key-lengths " +
                           file("lengths.npy") + " --alibi " + file("alibi.npy") +
                           " --softcap 5 --scale 0.3 --dropout 0.2 --dropout-seed 11";
  expect_ring_matches_single(args, 3, "zigzag");
}

TEST_F(RingCliTest, RingIsBitwiseIdenticalRunToRun) {
  const Sizes s{.b = 1, .hq = 4, .hkv = 2, .lq = 24, .lk = 24, .d = 16, .dv = 16};
  const std::string args = "sdpa" + qkv(s) + dout(s) + " --causal";
  ASSERT_EQ(run_under(mpiexec(3), args + outputs("a")).status, 0);
  ASSERT_EQ(run_under(mpiexec(3), args + outputs("b")).status, 0);
  for (const std::string name : kOutputs) {
    EXPECT_EQ(
        max_diff(read_floats(file("a_" + name + ".npy")), read_floats(file("b_" + name + ".npy"))),
        0.0)
        << name;
  }
}

// ---------------------------------------------------------------- failures stop the job

TEST_F(RingCliTest, MissingInputFileStopsEveryRank) {
  const std::string args = with_option(qkv(Sizes{.lq = 24, .lk = 24}), "--k", file("none.npy"));
  expect_job_rejected(3, args + dout(Sizes{.lq = 24, .lk = 24}), "none.npy");
}

TEST_F(RingCliTest, MismatchedShapesStopEveryRank) {
  expect_job_rejected(2, qkv(Sizes{.hq = 3, .hkv = 2, .lq = 24, .lk = 24}),
                      "not a multiple of the key/value heads");
}

TEST_F(RingCliTest, KeysOfAnotherLengthAreRejected) {
  expect_job_rejected(2, qkv(Sizes{.lq = 24, .lk = 40}), "under mpirun");
}

TEST_F(RingCliTest, LengthTheShardingCannotCutIsRejected) {
  const std::string args = qkv(Sizes{.lq = 20, .lk = 20}) + " --sharding zigzag";
  expect_job_rejected(3, args, "not a positive multiple of the 6 chunks of zigzag sharding");
}

TEST_F(RingCliTest, OptionsTheRingDoesNotTakeAreUsageErrors) {
  const std::string args = qkv(Sizes{.lq = 24, .lk = 24});
  write_bool(file("mask.npy"), std::vector<uint8_t>(24 * 24, 1), {24, 24});
  expect_job_rejected(2, args + " --mask " + file("mask.npy"),
                      "--mask is not supported under mpirun", kExitUsage);
  expect_job_rejected(2, args + " --impl reference", "--impl reference is not supported",
                      kExitUsage);
  expect_job_rejected(2, args + " --dtype bf16", "--dtype bf16 is not supported", kExitUsage);
  write_i32(file("cu.npy"), {0, 10, 24}, {3});
  expect_job_rejected(
      2, args + " --cu-seqlens-q " + file("cu.npy") + " --cu-seqlens-k " + file("cu.npy"),
      "--cu-seqlens-q/-k is not supported", kExitUsage);
  write_i64(file("lengths.npy"), {24, 17}, {2});
  expect_job_rejected(2, args + " --causal --key-lengths " + file("lengths.npy"),
                      "--causal-align top-left under mpirun", kExitUsage);
}

TEST_F(RingCliTest, FailedWriteOnRankZeroEndsTheJob) {
  const std::string args =
      "sdpa" + qkv(Sizes{.lq = 24, .lk = 24}) + " --out " + file("no_such_dir/out.npy");
  const CliRun r = run_under(mpiexec(2), args);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, kTimedOut) << "the job hung";
  const std::vector<std::string> lines = attn_lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find("rank 0 of 2 failed"), std::string::npos) << r.err;
}

// ---------------------------------------------------------------- attn bench --case ring

TEST_F(RingCliTest, BenchRingPrintsOneJsonLineWithEveryRank) {
  const CliRun r = run_under(
      mpiexec(2), "bench --case ring --len 64 --heads 2 --dim 16 --causal --reps 2 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("case"), "ring");
  EXPECT_EQ(j.at("pass"), "forward");
  EXPECT_EQ(j.at("ranks"), 2);
  EXPECT_EQ(j.at("sharding"), "zigzag");
  EXPECT_EQ(j.at("threads_per_rank"), 1);
  EXPECT_EQ(j.at("reps"), 2);
  EXPECT_GT(j.at("ms").get<double>(), 0.0);
  EXPECT_GT(j.at("gflops").get<double>(), 0.0);
  const double wait = j.at("wait_fraction").get<double>();
  EXPECT_GE(wait, 0.0);
  EXPECT_LE(wait, 1.0);
  ASSERT_EQ(j.at("wait_fraction_per_rank").size(), 2u);
  EXPECT_EQ(wait, std::max(j.at("wait_fraction_per_rank")[0].get<double>(),
                           j.at("wait_fraction_per_rank")[1].get<double>()));
  ASSERT_EQ(j.at("peak_rss_mib_per_rank").size(), 2u);
  for (const auto& mib : j.at("peak_rss_mib_per_rank")) EXPECT_GT(mib.get<double>(), 1.0);
}

TEST_F(RingCliTest, BenchRingBackwardWithContiguousSharding) {
  const CliRun r = run_under(mpiexec(3),
                             "bench --case ring --len 48 --heads 2 --kv-heads 1 "
                             "--dim 16 --backward --sharding contiguous --reps 1 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("pass"), "backward");
  EXPECT_EQ(j.at("sharding"), "contiguous");
  EXPECT_EQ(j.at("ranks"), 3);
  EXPECT_EQ(j.at("kv_heads"), 1);
}

TEST_F(RingCliTest, BenchRingOutsideMpirunIsAUsageError) {
  const CliRun r = run("bench --case ring --len 64");
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("under mpirun"), std::string::npos) << r.err;
}

TEST_F(RingCliTest, BenchRingRejectsLengthTheShardingCannotCut) {
  const CliRun r = run_under(mpiexec(3), "bench --case ring --len 100 --reps 1");
  EXPECT_EQ(r.status, kExitUsage);
  const std::vector<std::string> lines = attn_lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find("--len"), std::string::npos) << r.err;
}

TEST_F(RingCliTest, OtherBenchCasesUnderMpirunAreUsageErrors) {
  const CliRun r = run_under(mpiexec(2), "bench --case forward --len 64 --reps 1");
  EXPECT_EQ(r.status, kExitUsage);
  const std::vector<std::string> lines = attn_lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find("only --case ring"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace attn::cli_testing
