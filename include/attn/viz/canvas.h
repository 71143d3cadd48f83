// Canvas — an RGB image to draw charts on: fills, lines, rectangles and text; saved as PNG.
//
// Coordinates are pixels, x to the right and y downwards, with (0, 0) the top-left corner of the
// top-left pixel; pixel (x, y) covers [x, x+1) × [y, y+1), so its centre is (x + 0.5, y + 0.5).
// Drawing outside the image is clipped.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "attn/viz/color.h"
#include "attn/viz/font.h"

namespace attn::viz {

// A rectangle of whole pixels: columns [x, x + width), rows [y, y + height).
struct Rect {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
  int right() const { return x + width; }
  int bottom() const { return y + height; }
  friend bool operator==(const Rect&, const Rect&) = default;
};

struct Point {
  double x = 0;
  double y = 0;
};

// Where text sits relative to its anchor point. `align` runs along the text: kLeft puts its start
// at the anchor, kRight its end. `vertical` runs across it: kTop puts the top of the line box at
// the anchor. Text rotated by kUp (90° counter-clockwise, read bottom to top) starts at the
// anchor and runs upwards for kLeft; the top of its line box faces left.
enum class Align { kLeft, kCenter, kRight };
enum class VAlign { kTop, kMiddle, kBottom };
enum class Rotation { kNone, kUp };

struct TextStyle {
  int pixel_size = 13;
  Rgb color = kText;
  Align align = Align::kLeft;
  VAlign vertical = VAlign::kTop;
  Rotation rotation = Rotation::kNone;
};

struct LineStyle {
  Rgb color = kBlack;
  double thickness = 1.0;  // in pixels
  bool antialias = true;
};

class Canvas {
 public:
  // A width × height image filled with `background`; throws attn::Error unless both sizes are in
  // [1, 16384].
  Canvas(int width, int height, Rgb background = kWhite);

  int width() const { return width_; }
  int height() const { return height_; }
  Rgb pixel(int x, int y) const { return pixels_[index(x, y)]; }

  void fill(Rgb color);
  void set_pixel(int x, int y, Rgb color);
  // Blends `color` over pixel (x, y) with opacity `alpha` in [0, 1].
  void blend_pixel(int x, int y, Rgb color, double alpha);
  void fill_rect(const Rect& rect, Rgb color);
  // The outline of `rect`, `thickness` pixels wide, inside the rectangle.
  void draw_rect(const Rect& rect, Rgb color, int thickness = 1);

  void draw_line(Point from, Point to, const LineStyle& style);
  // Connected segments with round joins; each pixel is painted once, so joins do not darken.
  void draw_polyline(const std::vector<Point>& points, const LineStyle& style);
  // A filled disc of `radius` pixels, anti-aliased.
  void fill_circle(Point centre, double radius, Rgb color);

  // Draws `text` anchored at (x, y) as `style` says; returns the pixels its line box covers.
  Rect draw_text(const Font& font, int x, int y, std::string_view text, const TextStyle& style);

  // Writes the image as an 8-bit RGB PNG via attn::AtomicFile: the file appears whole or not at
  // all. Throws attn::Error naming `path` if it cannot be written.
  void save_png(const std::string& path) const;

  // Rows of RGB bytes, top row first: [height, width, 3].
  const std::vector<Rgb>& pixels() const { return pixels_; }

 private:
  size_t index(int x, int y) const { return static_cast<size_t>(y) * width_ + x; }
  bool contains(int x, int y) const { return x >= 0 && y >= 0 && x < width_ && y < height_; }
  void paint_coverage(const std::vector<float>& coverage, const Rect& box, Rgb color);

  int width_;
  int height_;
  std::vector<Rgb> pixels_;
};

// The pixels covered by text of `width` × `height` (its line box) anchored at (x, y) by `style`.
Rect text_box(int x, int y, int width, int height, const TextStyle& style);

}  // namespace attn::viz
