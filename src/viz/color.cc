#include "attn/viz/color.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace attn::viz {

namespace {

// viridis at t = 0, 1/8, ..., 1.
constexpr std::array<Rgb, 9> kViridisAnchors = {{{0x44, 0x01, 0x54},
                                                 {0x47, 0x2d, 0x7b},
                                                 {0x3b, 0x52, 0x8b},
                                                 {0x2c, 0x72, 0x8e},
                                                 {0x21, 0x91, 0x8c},
                                                 {0x28, 0xae, 0x80},
                                                 {0x5e, 0xc9, 0x62},
                                                 {0xad, 0xdc, 0x30},
                                                 {0xfd, 0xe7, 0x25}}};

// Okabe–Ito palette (black replaced by grey), ordered so that the first two contrast most.
constexpr std::array<Rgb, 8> kSeriesPalette = {{{0x00, 0x72, 0xb2},
                                                {0xd5, 0x5e, 0x00},
                                                {0x00, 0x9e, 0x73},
                                                {0xcc, 0x79, 0xa7},
                                                {0xe6, 0x9f, 0x00},
                                                {0x56, 0xb4, 0xe9},
                                                {0x60, 0x60, 0x60},
                                                {0xf0, 0xe4, 0x42}}};

uint8_t mix_channel(uint8_t a, uint8_t b, double t) {
  return static_cast<uint8_t>(std::lround(a + (static_cast<double>(b) - a) * t));
}

}  // namespace

Rgb mix(Rgb a, Rgb b, double t) {
  t = std::clamp(t, 0.0, 1.0);
  return {mix_channel(a.r, b.r, t), mix_channel(a.g, b.g, t), mix_channel(a.b, b.b, t)};
}

Rgb viridis(double t) {
  if (std::isnan(t)) return kMissing;
  const double position = std::clamp(t, 0.0, 1.0) * (kViridisAnchors.size() - 1);
  const size_t lower = std::min(static_cast<size_t>(position), kViridisAnchors.size() - 2);
  return mix(kViridisAnchors[lower], kViridisAnchors[lower + 1], position - lower);
}

Rgb series_color(size_t i) { return kSeriesPalette[i % kSeriesPalette.size()]; }

}  // namespace attn::viz
