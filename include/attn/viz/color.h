// Colours of the plotting module: 8-bit sRGB triples, the perceptual colour map of heatmaps and
// the palette of line-chart series.
#pragma once

#include <cstddef>
#include <cstdint>

namespace attn::viz {

struct Rgb {
  uint8_t r = 0;
  uint8_t g = 0;
  uint8_t b = 0;
  friend bool operator==(const Rgb&, const Rgb&) = default;
};

inline constexpr Rgb kWhite{255, 255, 255};
inline constexpr Rgb kBlack{0, 0, 0};
inline constexpr Rgb kText{34, 34, 34};
inline constexpr Rgb kAxis{90, 90, 90};
inline constexpr Rgb kGrid{228, 228, 228};
inline constexpr Rgb kMissing{200, 200, 200};  // heatmap cells holding NaN

// `a` moved towards `b` by `t` in [0, 1] (rounded per channel).
Rgb mix(Rgb a, Rgb b, double t);

// Viridis-like colour map: t in [0, 1] (clamped; NaN gives kMissing) to a colour that rises
// monotonically in lightness from dark purple through teal to yellow. Linear interpolation
// between nine anchor colours of matplotlib's viridis.
Rgb viridis(double t);

// Colour of the i-th series of a line chart; a colour-blind-safe palette of 8, then repeats.
Rgb series_color(size_t i);

}  // namespace attn::viz
