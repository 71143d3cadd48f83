// Internal: where each part of a heatmap figure goes. Computed first, then drawn.
#pragma once

#include <string>
#include <vector>

#include "attn/viz/canvas.h"
#include "attn/viz/font.h"
#include "attn/viz/heatmap.h"
#include "attn/viz/ticks.h"

namespace attn::viz::detail {

// The labels along one side of a matrix: which are drawn, at what size, in which direction.
struct LabelPlan {
  std::vector<std::string> text;  // one per row (or column), as drawn
  int pixel_size = 12;
  int stride = 1;        // every stride-th label is drawn, starting with the first
  bool rotated = false;  // column labels only: read bottom to top
  int extent = 0;        // pixels the labels need away from the matrix, tick marks included
};

struct HeatmapLayout {
  int width = 0;  // of the canvas
  int height = 0;
  int grid_cols = 1;
  int cell_w = 1;
  int cell_h = 1;
  LabelPlan row_labels;
  LabelPlan col_labels;
  std::vector<Rect> panels;  // cell rectangle of each map
  Rect bar;                  // the colour bar
  Ticks bar_ticks;
  int title_y = 0;          // top of the figure title
  int row_axis_x = 0;       // left edge of the rotated row axis label
  int col_axis_y = 0;       // top of the column axis label
  int subtitle_height = 0;  // space above each panel for its title; 0 if no map has one
};

// Throws attn::Error unless the maps and options describe a drawable figure.
void check_heatmaps(const std::vector<Heatmap>& maps, const HeatmapOptions& options);

// The layout of `maps` (checked, all of one shape) with `options`.
HeatmapLayout lay_out_heatmaps(const Font& font, const std::vector<Heatmap>& maps,
                               const HeatmapOptions& options);

// Pixel sizes of the text parts.
inline constexpr int kTitleSize = 18;
inline constexpr int kSubtitleSize = 14;
inline constexpr int kAxisLabelSize = 14;
inline constexpr int kBarTickSize = 12;
inline constexpr int kTickLength = 4;
inline constexpr int kBarWidth = 18;

}  // namespace attn::viz::detail
