#include "attn/viz/ticks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "attn/core/error.h"

namespace attn::viz {

namespace {

// Multiples of `step` in [lo, hi], tolerant of rounding at both ends.
std::vector<double> multiples_within(double lo, double hi, double step) {
  const double slack = 1e-9;
  const double first = std::ceil(lo / step - slack), last = std::floor(hi / step + slack);
  std::vector<double> values;
  for (double k = first; k <= last; ++k) {
    const double value = k * step;
    values.push_back(std::abs(value) < step * slack ? 0.0 : value);
  }
  return values;
}

// The smallest 1-2-5 step at or above `raw`.
double step_at_least(double raw) {
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double mantissa : {1.0, 2.0, 5.0, 10.0}) {
    if (mantissa * power >= raw * (1 - 1e-12)) return mantissa * power;
  }
  return 10 * power;
}

}  // namespace

Ticks nice_ticks(double lo, double hi, int max_ticks) {
  ATTN_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi,
             "tick range must be finite with lo <= hi, got [", lo, ", ", hi, "]");
  ATTN_CHECK(max_ticks >= 2, "max_ticks must be at least 2, got ", max_ticks);
  if (lo == hi) return {step_at_least(lo == 0 ? 1.0 : std::abs(lo) / 10), {lo}};
  // A step of (hi − lo) / (max_ticks + 1) or less puts more than max_ticks multiples in range.
  double step = step_at_least((hi - lo) / (max_ticks + 1));
  std::vector<double> values = multiples_within(lo, hi, step);
  while (static_cast<int>(values.size()) > max_ticks) {
    step = step_at_least(step * 1.5);
    values = multiples_within(lo, hi, step);
  }
  return {step, values};
}

std::string format_tick(double value, double step) {
  char text[64];
  const double magnitude = std::max(std::abs(value), step);
  if (magnitude >= 1e6 || step < 1e-5) {
    if (value == 0) return "0";
    const int digits = std::clamp(
        static_cast<int>(std::floor(std::log10(magnitude)) - std::floor(std::log10(step))), 0, 12);
    std::snprintf(text, sizeof(text), "%.*e", digits, value);
    return text;
  }
  const int decimals = std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 12);
  std::snprintf(text, sizeof(text), "%.*f", decimals, value);
  std::string label = text;
  const bool negative_zero = label[0] == '-' && label.find_first_not_of("-0.") == std::string::npos;
  return negative_zero ? label.substr(1) : label;
}

}  // namespace attn::viz
