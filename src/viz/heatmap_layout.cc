#include "heatmap_layout.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "attn/core/error.h"

namespace attn::viz {

namespace {

void append_utf8(char32_t code, std::string& out) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xc0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xe0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  }
}

// The visible form of one code point: C0 controls and DEL escaped.
void append_visible(char32_t code, std::string& out) {
  char escaped[8];
  switch (code) {
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\r':
      out += "\\r";
      break;
    default:
      if (code < 0x20 || code == 0x7f) {
        std::snprintf(escaped, sizeof(escaped), "\\x%02x", static_cast<unsigned>(code));
        out += escaped;
      } else {
        append_utf8(code, out);
      }
  }
}

}  // namespace

std::string display_label(std::string_view label, size_t max_chars) {
  const std::vector<char32_t> codes = decode_utf8(label);
  const bool blank = !codes.empty() &&
                     std::all_of(codes.begin(), codes.end(), [](char32_t c) { return c == U' '; });
  if (blank) return "\u2423";
  std::string out;
  for (size_t i = 0; i < codes.size(); ++i) {
    if (i + 1 == max_chars && codes.size() > max_chars) {
      out += "\u2026";
      break;
    }
    append_visible(codes[i], out);
  }
  return out;
}

namespace detail {

namespace {

constexpr int kMaxCell = 64;
constexpr int kMargin = 16;
constexpr int kPanelGap = 28;

void check_labels(const std::vector<std::string>& labels, int count, const char* name,
                  const char* what) {
  ATTN_CHECK(labels.empty() || static_cast<int>(labels.size()) == count, "heatmap: ", name, " has ",
             labels.size(), " labels but the matrix has ", count, " ", what);
}

// Largest side in pixels a matrix may take in a grid of grid_cols × grid_rows panels.
int side_budget(int grid_cols, int grid_rows) {
  if (grid_cols == 1 && grid_rows == 1) return 640;
  return std::min({640, std::max(120, 1100 / grid_cols), std::max(120, 900 / grid_rows)});
}

// Square cells that fit `side`, except that a matrix thinner than 80 pixels gets longer cells
// across its short side.
void choose_cells(int rows, int cols, int side, int& cell_w, int& cell_h) {
  const int square = std::clamp(std::min(side / cols, side / rows), 1, kMaxCell);
  cell_w = std::max(square, std::min(side / cols, (80 + cols - 1) / cols));
  cell_h = std::max(square, std::min(side / rows, (80 + rows - 1) / rows));
  cell_w = std::clamp(cell_w, 1, kMaxCell);
  cell_h = std::clamp(cell_h, 1, kMaxCell);
}

// The smallest of 1, 2, 5, 10, 20, ... whose multiple of `cell` is at least `needed` pixels.
int stride_for(int cell, int needed) {
  for (int power = 1;; power *= 10) {
    for (int mantissa : {1, 2, 5}) {
      if (mantissa * power * cell >= needed) return mantissa * power;
    }
  }
}

std::vector<std::string> label_texts(const std::vector<std::string>& labels, int count) {
  std::vector<std::string> texts;
  for (int i = 0; i < count; ++i) {
    texts.push_back(labels.empty() ? std::to_string(i) : display_label(labels[i]));
  }
  return texts;
}

// Width of the widest of every stride-th text.
int widest(const Font& font, const std::vector<std::string>& texts, int pixel_size, int stride) {
  int width = 0;
  for (size_t i = 0; i < texts.size(); i += stride) {
    width = std::max(width, font.text_width(texts[i], pixel_size));
  }
  return width;
}

// Labels shrink with the cells, from 12 down to 9 pixels; below that they are thinned instead.
int label_size(int cell) { return std::clamp(static_cast<int>(std::lround(cell * 0.75)), 9, 12); }

LabelPlan plan_row_labels(const Font& font, const std::vector<std::string>& labels, int rows,
                          int cell_h) {
  LabelPlan plan{label_texts(labels, rows), label_size(cell_h)};
  plan.stride = stride_for(cell_h, font.line_height(plan.pixel_size));
  plan.extent = widest(font, plan.text, plan.pixel_size, plan.stride) + kTickLength + 4;
  return plan;
}

// Upright when that needs no more thinning than rotated, else rotated.
LabelPlan plan_col_labels(const Font& font, const std::vector<std::string>& labels, int cols,
                          int cell_w) {
  LabelPlan plan{label_texts(labels, cols), label_size(cell_w)};
  const int line = font.line_height(plan.pixel_size);
  const int upright_stride = stride_for(cell_w, widest(font, plan.text, plan.pixel_size, 1) + 6);
  const int rotated_stride = stride_for(cell_w, line);
  plan.rotated = upright_stride > rotated_stride;
  plan.stride = plan.rotated ? rotated_stride : upright_stride;
  const int width = widest(font, plan.text, plan.pixel_size, plan.stride);
  plan.extent = (plan.rotated ? width : line) + kTickLength + 4;
  return plan;
}

int widest_subtitle(const Font& font, const std::vector<Heatmap>& maps) {
  int width = 0;
  for (const Heatmap& m : maps) width = std::max(width, font.text_width(m.title, kSubtitleSize));
  return width;
}

// Places the panels row by row from `top`; returns the bottom of the last row's labels.
int place_panels(const std::vector<Heatmap>& maps, int left, int top, int gap_x,
                 HeatmapLayout& layout) {
  const int n = static_cast<int>(maps.size()), g = layout.grid_cols;
  const int matrix_w = maps[0].cols * layout.cell_w, matrix_h = maps[0].rows * layout.cell_h;
  int y = top;
  for (int first = 0; first < n; first += g) {
    y += layout.subtitle_height;
    bool has_bottom_panel = false;
    for (int p = first; p < std::min(n, first + g); ++p) {
      layout.panels.push_back({left + (p - first) * (matrix_w + gap_x), y, matrix_w, matrix_h});
      has_bottom_panel = has_bottom_panel || p + g >= n;
    }
    y += matrix_h + (has_bottom_panel ? layout.col_labels.extent : 0) + 16;
  }
  return y - 16;
}

// The colour bar right of the panels, as tall as they are (at least 160 pixels).
void place_bar(const HeatmapOptions& options, int x, HeatmapLayout& layout) {
  const int top = layout.panels.front().y;
  const int height = std::max(160, layout.panels.back().bottom() - top);
  layout.bar = {x, top, kBarWidth, height};
  layout.bar_ticks = nice_ticks(options.lo, options.hi, std::clamp(height / 50, 2, 11));
}

int bar_label_width(const Font& font, const Ticks& ticks) {
  int width = 0;
  for (double v : ticks.values) {
    width = std::max(width, font.text_width(format_tick(v, ticks.step), kBarTickSize));
  }
  return width;
}

void shift_right(HeatmapLayout& layout, int dx) {
  for (Rect& panel : layout.panels) panel.x += dx;
  layout.bar.x += dx;
  layout.row_axis_x += dx;
}

}  // namespace

void check_heatmaps(const std::vector<Heatmap>& maps, const HeatmapOptions& options) {
  ATTN_CHECK(!maps.empty(), "heatmap: no matrix to draw");
  const Heatmap& first = maps[0];
  for (size_t i = 0; i < maps.size(); ++i) {
    const Heatmap& m = maps[i];
    ATTN_CHECK(m.rows >= 1 && m.cols >= 1, "heatmap ", i, ": shape must be at least 1 x 1, got ",
               m.rows, " x ", m.cols);
    ATTN_CHECK(m.values.size() == static_cast<size_t>(m.rows) * m.cols, "heatmap ", i, ": ",
               m.values.size(), " values for a ", m.rows, " x ", m.cols, " matrix");
    ATTN_CHECK(m.rows == first.rows && m.cols == first.cols, "heatmap ", i, ": shape ", m.rows,
               " x ", m.cols, " differs from the first map's ", first.rows, " x ", first.cols);
  }
  check_labels(options.row_labels, first.rows, "row_labels", "rows");
  check_labels(options.col_labels, first.cols, "col_labels", "columns");
  ATTN_CHECK(std::isfinite(options.lo) && std::isfinite(options.hi) && options.lo < options.hi,
             "heatmap: value range must be finite with lo < hi, got [", options.lo, ", ",
             options.hi, "]");
  ATTN_CHECK(options.grid_cols >= 0, "heatmap: grid_cols must be >= 0, got ", options.grid_cols);
}

HeatmapLayout lay_out_heatmaps(const Font& font, const std::vector<Heatmap>& maps,
                               const HeatmapOptions& options) {
  const int n = static_cast<int>(maps.size()), rows = maps[0].rows, cols = maps[0].cols;
  HeatmapLayout layout;
  layout.grid_cols = options.grid_cols > 0
                         ? std::min(options.grid_cols, n)
                         : static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))));
  const int grid_rows = (n + layout.grid_cols - 1) / layout.grid_cols;
  choose_cells(rows, cols, side_budget(layout.grid_cols, grid_rows), layout.cell_w, layout.cell_h);
  layout.row_labels = plan_row_labels(font, options.row_labels, rows, layout.cell_h);
  layout.col_labels = plan_col_labels(font, options.col_labels, cols, layout.cell_w);
  const int subtitle_w = widest_subtitle(font, maps);
  layout.subtitle_height = subtitle_w > 0 ? font.line_height(kSubtitleSize) + 6 : 0;

  int x = kMargin;
  layout.row_axis_x = x;
  if (!options.row_axis_label.empty()) x += font.line_height(kAxisLabelSize) + 6;
  x += layout.row_labels.extent;
  layout.title_y = 14;
  const int top = layout.title_y + (options.title.empty() ? 0 : font.line_height(kTitleSize) + 12);
  const int gap_x = std::max(kPanelGap, subtitle_w - cols * layout.cell_w + 16);
  int y = place_panels(maps, x, top, gap_x, layout);
  layout.col_axis_y = y + 4;
  if (!options.col_axis_label.empty()) y += font.line_height(kAxisLabelSize) + 8;

  place_bar(options, layout.panels[layout.grid_cols - 1].right() + 28, layout);
  const int content_w =
      layout.bar.right() + kTickLength + 4 + bar_label_width(font, layout.bar_ticks) + kMargin;
  layout.width = std::max(content_w, font.text_width(options.title, kTitleSize) + 2 * kMargin);
  shift_right(layout, (layout.width - content_w) / 2);
  layout.height = std::max(y, layout.bar.bottom() + font.line_height(kBarTickSize) / 2) + 12;
  return layout;
}

}  // namespace detail

}  // namespace attn::viz
