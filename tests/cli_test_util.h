// The fixture of the command-line tests: writing input files, running the attn binary, and
// comparing its outputs.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace attn::cli_testing {

// Sizes of one attention problem; Hq must be a multiple of Hkv for a valid one.
struct Sizes {
  int64_t b = 2, hq = 4, hkv = 4, lq = 24, lk = 40, d = 16, dv = 12;
};

// Which optional outputs a comparison also checks.
struct Outputs {
  bool lse = false;
  bool weights = false;
  bool gradients = false;  // --dq, --dk and --dv (the args must give --dout)
};

// Exit statuses of the binary: bad input (files, shapes, models), and a bad command line.
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Exit status and output of one run of the binary.
struct CliRun {
  int status = -1;  // the exit status; -1 if killed by a signal
  std::string out;  // stdout
  std::string err;  // stderr
};

// Largest |a[i] − b[i]|, where equal infinities count as 0 and NaN or a size mismatch as inf.
double max_diff(const std::vector<float>& a, const std::vector<float>& b);

// `args` with the value that follows `flag` replaced by `value`.
std::string with_option(std::string args, const std::string& flag, const std::string& value);

// True when `err` is exactly one line that starts with "attn: ".
bool is_one_error_line(const std::string& err);

// The elements of a float .npy file.
std::vector<float> read_floats(const std::string& path);

// Writers of the .npy dtypes that attn::write_npy (float32 only) does not write.
void write_f64(const std::string& path, const std::vector<double>& x,
               const std::vector<int64_t>& shape);
void write_i64(const std::string& path, const std::vector<int64_t>& x,
               const std::vector<int64_t>& shape);
void write_i32(const std::string& path, const std::vector<int32_t>& x,
               const std::vector<int64_t>& shape);
void write_bool(const std::string& path, const std::vector<uint8_t>& x,
                const std::vector<int64_t>& shape);
// float16 .npy of the f16 bit patterns x.
void write_f16(const std::string& path, const std::vector<uint16_t>& x,
               const std::vector<int64_t>& shape);

// Each test gets a fresh directory for its files.
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // Path of `name` in this test's directory.
  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  // Path of `name` in tests/data/npy.
  static std::string data_file(const std::string& name);

  // Writes random q.npy, k.npy and v.npy of sizes s in [B, H, L, D]; returns " --q … --v …".
  std::string qkv(const Sizes& s);
  // Writes a random dout.npy of the output's shape [B, Hq, Lq, Dv]; returns " --dout …".
  std::string dout(const Sizes& s);
  // Writes t_<name>, the [B, H, L, D] file `name` transposed to [B, L, H, D]; returns its path.
  std::string transposed(const std::string& name);

  // Runs the attn binary with `args`.
  CliRun run(const std::string& args) const { return run_under("", args); }
  // Runs `launcher attn args` (e.g. launcher "timeout 60 mpiexec -np 2"); an empty launcher runs
  // attn alone.
  CliRun run_under(const std::string& launcher, const std::string& args) const;

  // Runs `sdpa <args>` with --impl flash and --impl reference and expects their outputs to agree
  // within 1e-4. The flash outputs are left in flash_out.npy, flash_lse.npy, flash_weights.npy,
  // flash_dq.npy, flash_dk.npy and flash_dv.npy.
  void expect_flash_matches_reference(const std::string& args, Outputs outputs = {});

  // Runs `sdpa <args>` with every output and expects exit status `status`, one line on stderr
  // that contains `needle`, and no output file.
  void expect_rejected(const std::string& args, const std::string& needle,
                       int status = kExitFailure);

 private:
  std::string dir_;
};

}  // namespace attn::cli_testing
