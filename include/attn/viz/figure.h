// Figure — a rendered chart: its image and where its plots lie in it.
#pragma once

#include <vector>

#include "attn/viz/canvas.h"

namespace attn::viz {

struct Figure {
  Canvas canvas;
  // The data area of each plot: the axes' box of a line chart, the cells of each heatmap.
  std::vector<Rect> plots;
};

}  // namespace attn::viz
