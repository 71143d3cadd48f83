// Heatmaps: matrices such as attention weights drawn as coloured cells, with row and column
// labels (e.g. query and key tokens), a colour bar and a title; one matrix or a grid of several
// (small multiples, e.g. one per head) sharing one colour bar.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "attn/viz/figure.h"
#include "attn/viz/font.h"

namespace attn::viz {

struct Heatmap {
  std::span<const float> values{};  // [rows, cols], row-major; NaN is drawn as a grey cell
  int rows = 0;
  int cols = 0;
  std::string title{};  // drawn above the matrix (the sub-title of a panel in a grid)
};

struct HeatmapOptions {
  std::string title{};                    // above everything
  std::vector<std::string> row_labels{};  // [rows], or empty for the indices 0, 1, ...
  std::vector<std::string> col_labels{};  // [cols], or empty for the indices
  std::string row_axis_label{};           // e.g. "query"
  std::string col_axis_label{};           // e.g. "key"
  double lo = 0;                          // value drawn as the first colour of the map
  double hi = 1;                          // value drawn as the last; values beyond are clamped
  int grid_cols = 0;                      // panels per row of a grid; 0 for about square
  std::string font_path = kDefaultFontPath;
};

// Draws the matrix with viridis((v − lo) / (hi − lo)) per cell. Cells are whole pixels, square
// where possible, sized so the matrix spans a few hundred pixels: 1×1 up to several hundred rows
// or columns stay readable. Labels shrink for small cells; when they still cannot fit, only
// every k-th is drawn (k = 1, 2, 5, 10, ...) with a tick mark. Column labels are drawn upright,
// or rotated when wider than their cells. Labels are cut to 12 characters and control
// characters escaped. figure.plots[0] is the rectangle of the cells. Throws attn::Error if the
// shape is empty, values.size() != rows * cols, a label list has the wrong length, or lo >= hi.
Figure render_heatmap(const Heatmap& map, const HeatmapOptions& options);

// Small multiples: the maps, all of one shape, in a grid of options.grid_cols columns, each
// with its title; row labels left of the first column, column labels under the bottom panels,
// one shared colour bar. figure.plots[i] is the cell rectangle of maps[i].
Figure render_heatmaps(const std::vector<Heatmap>& maps, const HeatmapOptions& options);

// The above written as PNG files at `path` (atomically; see Canvas::save_png).
void draw_heatmap(const Heatmap& map, const HeatmapOptions& options, const std::string& path);
void draw_heatmaps(const std::vector<Heatmap>& maps, const HeatmapOptions& options,
                   const std::string& path);

// `label` as drawn: control characters escaped (\n, \t, \xNN), an all-blank label shown as "␣",
// and cut to `max_chars` code points with a trailing "…".
std::string display_label(std::string_view label, size_t max_chars = 12);

}  // namespace attn::viz
