#include "attn/viz/canvas.h"

#include <algorithm>
#include <cmath>

#include "attn/core/error.h"

namespace attn::viz {

namespace {

constexpr int kMaxSide = 16384;

// Distance from p to the segment [a, b].
double segment_distance(Point p, Point a, Point b) {
  const double dx = b.x - a.x, dy = b.y - a.y;
  const double length2 = dx * dx + dy * dy;
  double t = length2 > 0 ? ((p.x - a.x) * dx + (p.y - a.y) * dy) / length2 : 0.0;
  t = std::clamp(t, 0.0, 1.0);
  return std::hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

// Coverage of a pixel whose centre is `distance` from the centre line of a stroke of `radius`.
float stroke_coverage(double distance, double radius, bool antialias) {
  if (!antialias) return distance <= radius ? 1.0f : 0.0f;
  return static_cast<float>(std::clamp(radius + 0.5 - distance, 0.0, 1.0));
}

// Range [first, last] of t in [0, 1] where the y of a + t (b − a) lies within `reach` of y;
// false if there is none.
bool rows_in_reach(Point a, Point b, double y, double reach, double& first, double& last) {
  const double dy = b.y - a.y;
  if (dy == 0) {
    first = 0, last = 1;
    return std::abs(a.y - y) <= reach;
  }
  double t0 = (y - reach - a.y) / dy, t1 = (y + reach - a.y) / dy;
  if (t0 > t1) std::swap(t0, t1);
  first = std::max(t0, 0.0), last = std::min(t1, 1.0);
  return first <= last;
}

// Max-accumulates the coverage of the stroke [a, b] into `coverage`, laid over `box`.
void stroke_segment(Point a, Point b, const LineStyle& style, const Rect& box,
                    std::vector<float>& coverage) {
  const double radius = style.thickness / 2, reach = radius + 1;
  const int y_begin = std::max(box.y, static_cast<int>(std::floor(std::min(a.y, b.y) - reach)));
  const int y_end = std::min(box.bottom(), static_cast<int>(std::ceil(std::max(a.y, b.y) + reach)));
  for (int y = y_begin; y < y_end; ++y) {
    double first = 0, last = 0;
    if (!rows_in_reach(a, b, y + 0.5, reach, first, last)) continue;
    const double xa = a.x + first * (b.x - a.x), xb = a.x + last * (b.x - a.x);
    const int x_begin = std::max(box.x, static_cast<int>(std::floor(std::min(xa, xb) - reach)));
    const int x_end = std::min(box.right(), static_cast<int>(std::ceil(std::max(xa, xb) + reach)));
    float* row = coverage.data() + static_cast<size_t>(y - box.y) * box.width - box.x;
    for (int x = x_begin; x < x_end; ++x) {
      const double distance = segment_distance({x + 0.5, y + 0.5}, a, b);
      row[x] = std::max(row[x], stroke_coverage(distance, radius, style.antialias));
    }
  }
}

// The pixels within `margin` of the points, clipped to a width × height image.
Rect bounding_box(const std::vector<Point>& points, double margin, int width, int height) {
  double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
  for (const Point& p : points) {
    x0 = std::min(x0, p.x), y0 = std::min(y0, p.y);
    x1 = std::max(x1, p.x), y1 = std::max(y1, p.y);
  }
  const int left = static_cast<int>(std::clamp(std::floor(x0 - margin), 0.0, double(width)));
  const int top = static_cast<int>(std::clamp(std::floor(y0 - margin), 0.0, double(height)));
  const int right = static_cast<int>(std::clamp(std::ceil(x1 + margin), 0.0, double(width)));
  const int bottom = static_cast<int>(std::clamp(std::ceil(y1 + margin), 0.0, double(height)));
  return {left, top, std::max(0, right - left), std::max(0, bottom - top)};
}

}  // namespace

Canvas::Canvas(int width, int height, Rgb background) : width_(width), height_(height) {
  ATTN_CHECK(width >= 1 && width <= kMaxSide && height >= 1 && height <= kMaxSide,
             "canvas size must be in [1, ", kMaxSide, "], got ", width, " x ", height);
  pixels_.assign(static_cast<size_t>(width) * height, background);
}

void Canvas::fill(Rgb color) { std::fill(pixels_.begin(), pixels_.end(), color); }

void Canvas::set_pixel(int x, int y, Rgb color) {
  if (contains(x, y)) pixels_[index(x, y)] = color;
}

void Canvas::blend_pixel(int x, int y, Rgb color, double alpha) {
  if (!contains(x, y) || !(alpha > 0)) return;
  Rgb& target = pixels_[index(x, y)];
  target = alpha >= 1 ? color : mix(target, color, alpha);
}

void Canvas::fill_rect(const Rect& rect, Rgb color) {
  const int x0 = std::max(rect.x, 0), x1 = std::min(rect.right(), width_);
  const int y0 = std::max(rect.y, 0), y1 = std::min(rect.bottom(), height_);
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) pixels_[index(x, y)] = color;
  }
}

void Canvas::draw_rect(const Rect& rect, Rgb color, int thickness) {
  const int t = std::min({thickness, rect.width, rect.height});
  fill_rect({rect.x, rect.y, rect.width, t}, color);
  fill_rect({rect.x, rect.bottom() - t, rect.width, t}, color);
  fill_rect({rect.x, rect.y, t, rect.height}, color);
  fill_rect({rect.right() - t, rect.y, t, rect.height}, color);
}

void Canvas::draw_line(Point from, Point to, const LineStyle& style) {
  draw_polyline({from, to}, style);
}

void Canvas::draw_polyline(const std::vector<Point>& points, const LineStyle& style) {
  if (points.empty() || !(style.thickness > 0)) return;
  const Rect box = bounding_box(points, style.thickness / 2 + 2, width_, height_);
  if (box.width == 0 || box.height == 0) return;
  std::vector<float> coverage(static_cast<size_t>(box.width) * box.height, 0.0f);
  for (size_t i = 0; i + 1 < points.size(); ++i) {
    stroke_segment(points[i], points[i + 1], style, box, coverage);
  }
  if (points.size() == 1) stroke_segment(points[0], points[0], style, box, coverage);
  paint_coverage(coverage, box, style.color);
}

void Canvas::fill_circle(Point centre, double radius, Rgb color) {
  draw_polyline({centre}, {color, 2 * radius, true});
}

void Canvas::paint_coverage(const std::vector<float>& coverage, const Rect& box, Rgb color) {
  for (int y = 0; y < box.height; ++y) {
    for (int x = 0; x < box.width; ++x) {
      blend_pixel(box.x + x, box.y + y, color, coverage[static_cast<size_t>(y) * box.width + x]);
    }
  }
}

Rect text_box(int x, int y, int width, int height, const TextStyle& style) {
  const int along = style.align == Align::kLeft ? 0 : style.align == Align::kCenter ? 1 : 2;
  const int across = style.vertical == VAlign::kTop ? 0 : style.vertical == VAlign::kMiddle ? 1 : 2;
  if (style.rotation == Rotation::kNone) {
    return {x - along * width / 2, y - across * height / 2, width, height};
  }
  return {x - across * height / 2, y - (2 - along) * width / 2, height, width};
}

Rect Canvas::draw_text(const Font& font, int x, int y, std::string_view text,
                       const TextStyle& style) {
  const TextMask mask = font.render(text, style.pixel_size);
  const Rect box = text_box(x, y, mask.width, mask.height, style);
  const bool up = style.rotation == Rotation::kUp;
  for (int my = 0; my < mask.height; ++my) {
    for (int mx = 0; mx < mask.width; ++mx) {
      const uint8_t c = mask.coverage[static_cast<size_t>(my) * mask.width + mx];
      if (c == 0) continue;
      const int px = up ? box.x + my : box.x + mx;
      const int py = up ? box.y + (mask.width - 1 - mx) : box.y + my;
      blend_pixel(px, py, style.color, c / 255.0);
    }
  }
  return box;
}

}  // namespace attn::viz
