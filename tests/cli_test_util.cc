#include "cli_test_util.h"

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>

#include "attn/io/npy.h"
#include "test_util.h"

namespace attn::cli_testing {

namespace {

// Writes a .npy file (format 1.0) of raw little-endian elements; `descr` as NumPy spells it.
void write_raw_npy(const std::string& path, const std::string& descr,
                   const std::vector<int64_t>& shape, const void* data, size_t bytes) {
  std::string dims;
  for (int64_t s : shape) dims += std::to_string(s) + ",";
  if (shape.size() > 1) dims.pop_back();
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');  // the data starts 64-byte aligned
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  f.put(static_cast<char>(header.size() & 0xff));
  f.put(static_cast<char>(header.size() >> 8));
  f << header;
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
}

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

}  // namespace

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (a.size() != b.size()) return kInf;
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;  // also equal infinities
    const double d = std::abs(static_cast<double>(a[i]) - b[i]);
    worst = std::isnan(d) ? kInf : std::max(worst, d);
  }
  return worst;
}

std::string with_option(std::string args, const std::string& flag, const std::string& value) {
  const size_t at = args.find(" " + flag + " ");
  if (at == std::string::npos) return args + " " + flag + " " + value;
  const size_t begin = at + flag.size() + 2;
  const size_t end = args.find(' ', begin);
  return args.replace(begin, end == std::string::npos ? std::string::npos : end - begin, value);
}

bool is_one_error_line(const std::string& err) {
  return err.rfind("attn: ", 0) == 0 && err.find('\n') == err.size() - 1;
}

std::vector<float> read_floats(const std::string& path) { return read_npy(path).to_float32(); }

void write_f64(const std::string& path, const std::vector<double>& x,
               const std::vector<int64_t>& shape) {
  write_raw_npy(path, "<f8", shape, x.data(), x.size() * sizeof(double));
}
void write_i64(const std::string& path, const std::vector<int64_t>& x,
               const std::vector<int64_t>& shape) {
  write_raw_npy(path, "<i8", shape, x.data(), x.size() * sizeof(int64_t));
}
void write_i32(const std::string& path, const std::vector<int32_t>& x,
               const std::vector<int64_t>& shape) {
  write_raw_npy(path, "<i4", shape, x.data(), x.size() * sizeof(int32_t));
}
void write_bool(const std::string& path, const std::vector<uint8_t>& x,
                const std::vector<int64_t>& shape) {
  write_raw_npy(path, "|b1", shape, x.data(), x.size());
}
void write_f16(const std::string& path, const std::vector<uint16_t>& x,
               const std::vector<int64_t>& shape) {
  write_raw_npy(path, "<f2", shape, x.data(), x.size() * sizeof(uint16_t));
}

void CliTest::SetUp() {
  dir_ = testing::temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
}

std::string CliTest::data_file(const std::string& name) {
  return std::string(ATTN_TEST_DATA_DIR) + "/npy/" + name;
}

std::string CliTest::qkv(const Sizes& s) {
  const std::vector<int64_t> q{s.b, s.hq, s.lq, s.d}, k{s.b, s.hkv, s.lk, s.d},
      v{s.b, s.hkv, s.lk, s.dv};
  write_npy(file("q.npy"), testing::random_floats(product(q), 1).data(), q);
  write_npy(file("k.npy"), testing::random_floats(product(k), 2).data(), k);
  write_npy(file("v.npy"), testing::random_floats(product(v), 3).data(), v);
  return " --q " + file("q.npy") + " --k " + file("k.npy") + " --v " + file("v.npy");
}

std::string CliTest::dout(const Sizes& s) {
  const std::vector<int64_t> shape{s.b, s.hq, s.lq, s.dv};
  write_npy(file("dout.npy"), testing::random_floats(product(shape), 4).data(), shape);
  return " --dout " + file("dout.npy");
}

std::string CliTest::transposed(const std::string& name) {
  const NpyArray a = read_npy(file(name));
  const std::vector<float> x = a.to_float32();
  const int64_t B = a.shape[0], H = a.shape[1], L = a.shape[2], D = a.shape[3];
  std::vector<float> t(x.size());
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t l = 0; l < L; ++l) {
        for (int64_t d = 0; d < D; ++d) {
          t[((b * L + l) * H + h) * D + d] = x[((b * H + h) * L + l) * D + d];
        }
      }
    }
  }
  write_npy(file("t_" + name), t.data(), {B, L, H, D});
  return file("t_" + name);
}

CliRun CliTest::run_under(const std::string& launcher, const std::string& args) const {
  const std::string out = file("stdout.txt"), err = file("stderr.txt");
  const std::string command = (launcher.empty() ? "" : launcher + " ") + ATTN_CLI_PATH + " " +
                              args + " >" + out + " 2>" + err;
  const int status = std::system(command.c_str());
  CliRun r;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = attn::testing::read_file(out);
  r.err = attn::testing::read_file(err);
  return r;
}

void CliTest::expect_flash_matches_reference(const std::string& args, Outputs outputs) {
  for (const std::string impl : {"flash", "reference"}) {
    std::string command = "sdpa" + args + " --impl " + impl + " --out " + file(impl + "_out.npy");
    if (outputs.lse) command += " --lse " + file(impl + "_lse.npy");
    if (outputs.weights) command += " --weights " + file(impl + "_weights.npy");
    if (outputs.gradients) {
      for (const char* grad : {"dq", "dk", "dv"}) {
        command += std::string(" --") + grad + " " + file(impl + "_" + grad + ".npy");
      }
    }
    const CliRun r = run(command);
    ASSERT_EQ(r.status, 0) << "--impl " << impl << ": " << r.err;
    EXPECT_EQ(r.err, "");
  }
  std::vector<std::string> names = {"_out.npy"};
  if (outputs.lse) names.push_back("_lse.npy");
  if (outputs.weights) names.push_back("_weights.npy");
  if (outputs.gradients) names.insert(names.end(), {"_dq.npy", "_dk.npy", "_dv.npy"});
  for (const std::string& name : names) {
    EXPECT_LT(max_diff(read_floats(file("flash" + name)), read_floats(file("reference" + name))),
              1e-4)
        << name;
  }
}

void CliTest::expect_rejected(const std::string& args, const std::string& needle, int status) {
  const CliRun r = run("sdpa" + args + " --out " + file("rejected_out.npy") + " --lse " +
                       file("rejected_lse.npy") + " --weights " + file("rejected_weights.npy"));
  EXPECT_EQ(r.status, status) << args;
  EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "'" << needle << "' not in: " << r.err;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().rfind("rejected", 0), std::string::npos)
        << entry.path() << " was created";
  }
}

}  // namespace attn::cli_testing
