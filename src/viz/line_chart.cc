#include "attn/viz/line_chart.h"

#include <algorithm>
#include <cmath>

#include "attn/core/error.h"
#include "attn/viz/ticks.h"

namespace attn::viz {

namespace {

constexpr int kTitleSize = 18;
constexpr int kLabelSize = 14;
constexpr int kTickSize = 12;
constexpr int kLegendSize = 13;
constexpr int kTickLength = 5;
constexpr double kLineWidth = 2.0;

// One axis: the data interval it spans and its ticks.
struct Axis {
  double lo = 0;
  double hi = 1;
  Ticks ticks;
};

// Maps data coordinates into the plot rectangle (y grows upwards in data, downwards in pixels).
struct Frame {
  Rect plot;
  Axis x;
  Axis y;
  Point to_pixel(double vx, double vy) const {
    return {plot.x + (vx - x.lo) / (x.hi - x.lo) * plot.width,
            plot.bottom() - (vy - y.lo) / (y.hi - y.lo) * plot.height};
  }
};

bool is_present(const Series& s, size_t i) {
  return std::isfinite(s.x[i]) && std::isfinite(s.y[i]);
}

void check_series(const std::vector<Series>& series, const LineChartOptions& options) {
  ATTN_CHECK(!series.empty(), "line chart: no series to draw");
  ATTN_CHECK(options.width >= 240 && options.height >= 180,
             "line chart: size must be at least 240 x 180, got ", options.width, " x ",
             options.height);
  bool any_present = false;
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    ATTN_CHECK(s.x.size() == s.y.size(), "line chart: series ", i, " '", s.name, "' has ",
               s.x.size(), " x values but ", s.y.size(), " y values");
    ATTN_CHECK(!s.x.empty(), "line chart: series ", i, " '", s.name, "' has no points");
    for (size_t k = 0; k < s.x.size(); ++k) any_present = any_present || is_present(s, k);
  }
  ATTN_CHECK(any_present, "line chart: no series has a point with finite x and y");
}

// [lo, hi] of the finite points along x (`along_x`) or y.
std::pair<double, double> data_bounds(const std::vector<Series>& series, bool along_x) {
  double lo = INFINITY, hi = -INFINITY;
  for (const Series& s : series) {
    for (size_t k = 0; k < s.x.size(); ++k) {
      if (!is_present(s, k)) continue;
      const double v = along_x ? s.x[k] : s.y[k];
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
  }
  return {lo, hi};
}

// The axis over [lo, hi] widened by `margin` of its span (or around a single value), with at
// most `max_ticks` ticks.
Axis make_axis(std::pair<double, double> bounds, double margin, int max_ticks) {
  auto [lo, hi] = bounds;
  const double pad = lo < hi ? (hi - lo) * margin : (lo == 0 ? 1.0 : std::abs(lo) * 0.1);
  lo -= pad, hi += pad;
  return {lo, hi, nice_ticks(lo, hi, std::max(2, max_ticks))};
}

int widest_label(const Font& font, const Ticks& ticks) {
  int widest = 0;
  for (double v : ticks.values) {
    widest = std::max(widest, font.text_width(format_tick(v, ticks.step), kTickSize));
  }
  return widest;
}

// Chooses the plot rectangle and the ticks: margins leave room for title, labels and ticks.
Frame lay_out(const Font& font, const std::vector<Series>& series, const LineChartOptions& o) {
  const int tick_h = font.line_height(kTickSize), label_h = font.line_height(kLabelSize);
  const int top = 14 + (o.title.empty() ? 0 : font.line_height(kTitleSize) + 10);
  const int bottom = kTickLength + 4 + tick_h + (o.x_label.empty() ? 0 : 6 + label_h) + 12;
  Frame f;
  f.plot.y = top;
  f.plot.height = std::max(40, o.height - top - bottom);
  f.y = make_axis(data_bounds(series, false), 0.06, f.plot.height / 48 + 1);
  f.plot.x =
      12 + (o.y_label.empty() ? 0 : label_h + 8) + widest_label(font, f.y.ticks) + kTickLength + 4;
  f.plot.width = std::max(40, o.width - f.plot.x - 28);
  // Fewer x ticks until the widest label fits between neighbours with room to spare.
  for (int max_ticks = f.plot.width / 80 + 1;; --max_ticks) {
    f.x = make_axis(data_bounds(series, true), 0.02, max_ticks);
    const double spacing = f.x.ticks.step / (f.x.hi - f.x.lo) * f.plot.width;
    if (max_ticks <= 2 || widest_label(font, f.x.ticks) + 16 <= spacing) break;
  }
  return f;
}

void draw_grid_and_ticks(Canvas& canvas, const Font& font, const Frame& f) {
  const TextStyle x_style{kTickSize, kText, Align::kCenter, VAlign::kTop};
  for (double v : f.x.ticks.values) {
    const int px = static_cast<int>(std::lround(f.to_pixel(v, f.y.lo).x - 0.5));
    canvas.fill_rect({px, f.plot.y, 1, f.plot.height}, kGrid);
    canvas.fill_rect({px, f.plot.bottom(), 1, kTickLength}, kAxis);
    canvas.draw_text(font, px, f.plot.bottom() + kTickLength + 3, format_tick(v, f.x.ticks.step),
                     x_style);
  }
  const TextStyle y_style{kTickSize, kText, Align::kRight, VAlign::kMiddle};
  for (double v : f.y.ticks.values) {
    const int py = static_cast<int>(std::lround(f.to_pixel(f.x.lo, v).y - 0.5));
    canvas.fill_rect({f.plot.x, py, f.plot.width, 1}, kGrid);
    canvas.fill_rect({f.plot.x - kTickLength, py, kTickLength, 1}, kAxis);
    canvas.draw_text(font, f.plot.x - kTickLength - 4, py, format_tick(v, f.y.ticks.step), y_style);
  }
  canvas.draw_rect({f.plot.x - 1, f.plot.y - 1, f.plot.width + 2, f.plot.height + 2}, kAxis);
}

void draw_titles(Canvas& canvas, const Font& font, const Frame& f, const LineChartOptions& o) {
  const int centre_x = f.plot.x + f.plot.width / 2;
  if (!o.title.empty()) {
    canvas.draw_text(font, centre_x, 12, o.title, {kTitleSize, kText, Align::kCenter});
  }
  if (!o.x_label.empty()) {
    canvas.draw_text(font, centre_x, o.height - 10, o.x_label,
                     {kLabelSize, kText, Align::kCenter, VAlign::kBottom});
  }
  if (!o.y_label.empty()) {
    canvas.draw_text(font, 10, f.plot.y + f.plot.height / 2, o.y_label,
                     {kLabelSize, kText, Align::kCenter, VAlign::kTop, Rotation::kUp});
  }
}

// Runs of consecutive present points become polylines; a run of one point becomes a dot.
void draw_series(Canvas& canvas, const Frame& f, const Series& s, Rgb color) {
  std::vector<Point> run;
  auto flush = [&] {
    if (run.size() == 1) canvas.fill_circle(run[0], kLineWidth + 1.5, color);
    if (run.size() > 1) canvas.draw_polyline(run, {color, kLineWidth, true});
    run.clear();
  };
  for (size_t k = 0; k < s.x.size(); ++k) {
    if (is_present(s, k)) {
      run.push_back(f.to_pixel(s.x[k], s.y[k]));
    } else {
      flush();
    }
  }
  flush();
}

// How many points of the drawn lines (vertices and samples along segments) fall in `box`.
int points_inside(const Frame& f, const std::vector<Series>& series, const Rect& box) {
  int count = 0;
  auto visit = [&](Point p) {
    count += p.x >= box.x && p.x < box.right() && p.y >= box.y && p.y < box.bottom();
  };
  for (const Series& s : series) {
    for (size_t k = 0; k < s.x.size(); ++k) {
      if (!is_present(s, k)) continue;
      const Point p = f.to_pixel(s.x[k], s.y[k]);
      visit(p);
      if (k + 1 == s.x.size() || !is_present(s, k + 1)) continue;
      const Point q = f.to_pixel(s.x[k + 1], s.y[k + 1]);
      for (double t = 0.125; t < 1; t += 0.125)
        visit({p.x + t * (q.x - p.x), p.y + t * (q.y - p.y)});
    }
  }
  return count;
}

// The legend box in the plot corner that hides the fewest drawn points.
Rect place_legend(const Frame& f, const std::vector<Series>& series, int width, int height) {
  const int inset = 10;
  const int left = f.plot.x + inset, right = f.plot.right() - inset - width;
  const int top = f.plot.y + inset, bottom = f.plot.bottom() - inset - height;
  Rect best{right, top, width, height};
  int fewest = points_inside(f, series, best);
  for (const Rect& box : {Rect{left, top, width, height}, Rect{right, bottom, width, height},
                          Rect{left, bottom, width, height}}) {
    const int count = points_inside(f, series, box);
    if (count < fewest) best = box, fewest = count;
  }
  return best;
}

void draw_legend(Canvas& canvas, const Font& font, const Frame& f,
                 const std::vector<Series>& series) {
  if (series.size() == 1 && series[0].name.empty()) return;
  const int row_h = font.line_height(kLegendSize) + 4, sample_w = 28;
  int name_w = 0;
  for (const Series& s : series) name_w = std::max(name_w, font.text_width(s.name, kLegendSize));
  const int width = 10 + sample_w + 8 + name_w + 12;
  const int height = 8 + row_h * static_cast<int>(series.size()) + 4;
  const Rect box = place_legend(f, series, width, height);
  canvas.fill_rect(box, kWhite);
  canvas.draw_rect(box, mix(kAxis, kWhite, 0.5));
  for (size_t i = 0; i < series.size(); ++i) {
    const double y = box.y + 8 + row_h * (i + 0.5);
    canvas.draw_line({box.x + 10.0, y}, {box.x + 10.0 + sample_w, y},
                     {series_color(i), kLineWidth, true});
    canvas.draw_text(font, box.x + 10 + sample_w + 8, static_cast<int>(y), series[i].name,
                     {kLegendSize, kText, Align::kLeft, VAlign::kMiddle});
  }
}

}  // namespace

Figure render_line_chart(const std::vector<Series>& series, const LineChartOptions& options) {
  check_series(series, options);
  const Font font(options.font_path);
  const Frame frame = lay_out(font, series, options);
  Canvas canvas(options.width, options.height);
  draw_grid_and_ticks(canvas, font, frame);
  for (size_t i = 0; i < series.size(); ++i) {
    draw_series(canvas, frame, series[i], series_color(i));
  }
  draw_legend(canvas, font, frame, series);
  draw_titles(canvas, font, frame, options);
  return {std::move(canvas), {frame.plot}};
}

void draw_line_chart(const std::vector<Series>& series, const LineChartOptions& options,
                     const std::string& path) {
  render_line_chart(series, options).canvas.save_png(path);
}

}  // namespace attn::viz
