// Line charts: named series of (x, y) points on shared axes, e.g. training and validation loss
// against the step.
#pragma once

#include <string>
#include <vector>

#include "attn/viz/figure.h"
#include "attn/viz/font.h"

namespace attn::viz {

struct Series {
  std::string name{};       // shown in the legend; a chart of one unnamed series has no legend
  std::vector<double> x{};  // [n]
  std::vector<double> y{};  // [n]; a point with a NaN or infinite coordinate is missing: a gap
};

struct LineChartOptions {
  std::string title{};
  std::string x_label{};
  std::string y_label{};
  int width = 960;   // pixels, at least 240
  int height = 600;  // pixels, at least 180
  std::string font_path = kDefaultFontPath;
};

// Draws the series as lines in series_color(i), a point with no present neighbour as a dot, over
// a grid at 1-2-5 ticks, with axis labels, title and legend. The axes span the finite points
// plus a small margin. Throws attn::Error if there is no series, a series has no point or x and
// y of different lengths, no point is finite, or the size is too small.
Figure render_line_chart(const std::vector<Series>& series, const LineChartOptions& options);

// render_line_chart written as a PNG file at `path` (atomically; see Canvas::save_png).
void draw_line_chart(const std::vector<Series>& series, const LineChartOptions& options,
                     const std::string& path);

}  // namespace attn::viz
