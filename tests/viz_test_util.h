// Helpers of the plotting tests: PNG files read back with libpng, directory listings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attn/viz/color.h"

namespace attn::testing {

// An 8-bit RGB image: [height, width, 3].
struct PngImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;
  viz::Rgb at(int x, int y) const {
    const size_t i = (static_cast<size_t>(y) * width + x) * 3;
    return {rgb[i], rgb[i + 1], rgb[i + 2]};
  }
};

// The PNG file at `path` decoded to RGB; an empty image (and a test failure) if it cannot be.
PngImage read_png(const std::string& path);

// Names of the entries of `dir`.
std::vector<std::string> dir_entries(const std::string& dir);

}  // namespace attn::testing
