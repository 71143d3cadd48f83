// Axis ticks at round values: multiples of 1, 2 or 5 times a power of ten.
#pragma once

#include <string>
#include <vector>

namespace attn::viz {

struct Ticks {
  double step = 0;             // distance between neighbouring ticks
  std::vector<double> values;  // increasing multiples of `step`
};

// The ticks in [lo, hi] with the smallest 1-2-5 step that gives at most `max_ticks` of them.
// lo == hi gives the one tick lo. Throws attn::Error unless lo and hi are finite, lo <= hi and
// max_ticks >= 2.
Ticks nice_ticks(double lo, double hi, int max_ticks);

// `value` as a tick label: as many decimals as `step` needs ("0.25" for step 0.05, "1500" for
// step 500), no "-0"; scientific notation (zero as "0") for magnitudes of 1e6 and above or
// steps below 1e-5.
std::string format_tick(double value, double step);

}  // namespace attn::viz
