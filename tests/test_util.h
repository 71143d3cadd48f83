// Helpers shared by the tests: random inputs and error measures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attn::testing {

// n floats uniform in [lo, hi) from a fixed seed.
std::vector<float> random_floats(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

// Largest |a[i] − b[i]|.
double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b);
double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b);
// Whether a and b hold the same floats bit for bit (NaNs and signed zeros included).
bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b);
// The largest |x| (0 for an empty x); for the floors of the accuracy rules.
double max_abs(const std::vector<double>& x);

// True when ATTN_TEST_SCALE=small (sanitizer builds run a lighter sweep).
bool small_test_scale();

// The whole contents of the file at path ("" when it cannot be read).
std::string read_file(const std::string& path);

// A fresh empty directory for one test's files.
std::string temp_dir(const std::string& name);

}  // namespace attn::testing
