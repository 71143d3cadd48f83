#include "attn/viz/heatmap.h"

#include <cmath>

#include "heatmap_layout.h"

namespace attn::viz {

namespace {

using detail::HeatmapLayout;
using detail::LabelPlan;

void draw_cells(Canvas& canvas, const Heatmap& map, const Rect& panel, const HeatmapLayout& l,
                const HeatmapOptions& options) {
  const double scale = 1.0 / (options.hi - options.lo);
  for (int r = 0; r < map.rows; ++r) {
    for (int c = 0; c < map.cols; ++c) {
      const double value = map.values[static_cast<size_t>(r) * map.cols + c];
      const Rect cell{panel.x + c * l.cell_w, panel.y + r * l.cell_h, l.cell_w, l.cell_h};
      canvas.fill_rect(cell, viridis((value - options.lo) * scale));
    }
  }
  canvas.draw_rect({panel.x - 1, panel.y - 1, panel.width + 2, panel.height + 2}, kAxis);
}

void draw_row_labels(Canvas& canvas, const Font& font, const LabelPlan& plan, const Rect& panel,
                     int cell_h) {
  const TextStyle style{plan.pixel_size, kText, Align::kRight, VAlign::kMiddle};
  for (size_t r = 0; r < plan.text.size(); r += plan.stride) {
    const int y = panel.y + static_cast<int>(r) * cell_h + cell_h / 2;
    canvas.fill_rect({panel.x - 1 - detail::kTickLength, y, detail::kTickLength, 1}, kAxis);
    canvas.draw_text(font, panel.x - detail::kTickLength - 4, y, plan.text[r], style);
  }
}

void draw_col_labels(Canvas& canvas, const Font& font, const LabelPlan& plan, const Rect& panel,
                     int cell_w) {
  const TextStyle upright{plan.pixel_size, kText, Align::kCenter, VAlign::kTop};
  const TextStyle rotated{plan.pixel_size, kText, Align::kRight, VAlign::kMiddle, Rotation::kUp};
  const int top = panel.bottom() + 1 + detail::kTickLength;
  for (size_t c = 0; c < plan.text.size(); c += plan.stride) {
    const int x = panel.x + static_cast<int>(c) * cell_w + cell_w / 2;
    canvas.fill_rect({x, panel.bottom() + 1, 1, detail::kTickLength}, kAxis);
    canvas.draw_text(font, x, top + 3, plan.text[c], plan.rotated ? rotated : upright);
  }
}

// The colour map from lo (bottom) to hi (top) with tick labels on its right.
void draw_colour_bar(Canvas& canvas, const Font& font, const HeatmapLayout& l,
                     const HeatmapOptions& options) {
  const Rect& bar = l.bar;
  for (int y = 0; y < bar.height; ++y) {
    canvas.fill_rect({bar.x, bar.bottom() - 1 - y, bar.width, 1}, viridis((y + 0.5) / bar.height));
  }
  canvas.draw_rect({bar.x - 1, bar.y - 1, bar.width + 2, bar.height + 2}, kAxis);
  const TextStyle style{detail::kBarTickSize, kText, Align::kLeft, VAlign::kMiddle};
  for (double v : l.bar_ticks.values) {
    const double t = (v - options.lo) / (options.hi - options.lo);
    const int y = std::min(bar.bottom() - 1, static_cast<int>(bar.bottom() - t * bar.height));
    canvas.fill_rect({bar.right() + 1, y, detail::kTickLength, 1}, kAxis);
    canvas.draw_text(font, bar.right() + detail::kTickLength + 4, y,
                     format_tick(v, l.bar_ticks.step), style);
  }
}

void draw_titles(Canvas& canvas, const Font& font, const HeatmapLayout& l,
                 const std::vector<Heatmap>& maps, const HeatmapOptions& options) {
  if (!options.title.empty()) {
    canvas.draw_text(font, l.width / 2, l.title_y, options.title,
                     {detail::kTitleSize, kText, Align::kCenter});
  }
  for (size_t i = 0; i < maps.size(); ++i) {
    const Rect& panel = l.panels[i];
    canvas.draw_text(font, panel.x + panel.width / 2, panel.y - l.subtitle_height, maps[i].title,
                     {detail::kSubtitleSize, kText, Align::kCenter});
  }
  const Rect& first = l.panels.front();
  const Rect& last_in_row = l.panels[l.grid_cols - 1];
  if (!options.row_axis_label.empty()) {
    const int middle = (first.y + l.panels.back().bottom()) / 2;
    canvas.draw_text(font, l.row_axis_x, middle, options.row_axis_label,
                     {detail::kAxisLabelSize, kText, Align::kCenter, VAlign::kTop, Rotation::kUp});
  }
  if (!options.col_axis_label.empty()) {
    canvas.draw_text(font, (first.x + last_in_row.right()) / 2, l.col_axis_y,
                     options.col_axis_label, {detail::kAxisLabelSize, kText, Align::kCenter});
  }
}

}  // namespace

Figure render_heatmaps(const std::vector<Heatmap>& maps, const HeatmapOptions& options) {
  detail::check_heatmaps(maps, options);
  const Font font(options.font_path);
  const HeatmapLayout layout = detail::lay_out_heatmaps(font, maps, options);
  Canvas canvas(layout.width, layout.height);
  const size_t n = maps.size(), g = layout.grid_cols;
  for (size_t i = 0; i < n; ++i) {
    const Rect& panel = layout.panels[i];
    draw_cells(canvas, maps[i], panel, layout, options);
    if (i % g == 0) draw_row_labels(canvas, font, layout.row_labels, panel, layout.cell_h);
    if (i + g >= n) draw_col_labels(canvas, font, layout.col_labels, panel, layout.cell_w);
  }
  draw_colour_bar(canvas, font, layout, options);
  draw_titles(canvas, font, layout, maps, options);
  return {std::move(canvas), layout.panels};
}

Figure render_heatmap(const Heatmap& map, const HeatmapOptions& options) {
  return render_heatmaps({map}, options);
}

void draw_heatmap(const Heatmap& map, const HeatmapOptions& options, const std::string& path) {
  render_heatmap(map, options).canvas.save_png(path);
}

void draw_heatmaps(const std::vector<Heatmap>& maps, const HeatmapOptions& options,
                   const std::string& path) {
  render_heatmaps(maps, options).canvas.save_png(path);
}

}  // namespace attn::viz
