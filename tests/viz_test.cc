#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "attn/core/error.h"
#include "attn/viz/canvas.h"
#include "attn/viz/color.h"
#include "attn/viz/font.h"
#include "attn/viz/line_chart.h"
#include "attn/viz/ticks.h"
#include "test_util.h"
#include "viz_test_util.h"

namespace attn::viz {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

namespace fs = std::filesystem;
using testing::dir_entries;
using testing::PngImage;
using testing::read_png;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Rows in column x of `image`, within rows [top, bottom), whose pixel is exactly `color`.
std::vector<int> rows_with_color(const PngImage& image, int x, int top, int bottom, Rgb color) {
  std::vector<int> rows;
  for (int y = top; y < bottom; ++y) {
    if (image.at(x, y) == color) rows.push_back(y);
  }
  return rows;
}

double luminance(Rgb c) { return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b; }

// ------------------------------------------------------------------ colours

TEST(VizColor, ViridisEndsAtItsAnchorsAndClamps) {
  EXPECT_EQ(viridis(0.0), (Rgb{0x44, 0x01, 0x54}));
  EXPECT_EQ(viridis(1.0), (Rgb{0xfd, 0xe7, 0x25}));
  EXPECT_EQ(viridis(-3.0), viridis(0.0));
  EXPECT_EQ(viridis(7.0), viridis(1.0));
  EXPECT_EQ(viridis(kNaN), kMissing);
  EXPECT_EQ(viridis(0.0625), mix(Rgb{0x44, 0x01, 0x54}, Rgb{0x47, 0x2d, 0x7b}, 0.5));
}

TEST(VizColor, ViridisLightnessRisesMonotonically) {
  for (int i = 1; i <= 100; ++i) {
    EXPECT_GT(luminance(viridis(i / 100.0)), luminance(viridis((i - 1) / 100.0))) << i;
  }
}

TEST(VizColor, FirstSeriesColoursDiffer) {
  EXPECT_NE(series_color(0), series_color(1));
  EXPECT_EQ(series_color(8), series_color(0));
}

// ------------------------------------------------------------------ ticks

TEST(VizTicks, UnitRangeGetsFifths) {
  const Ticks ticks = nice_ticks(0, 1, 6);
  EXPECT_DOUBLE_EQ(ticks.step, 0.2);
  ASSERT_EQ(ticks.values.size(), 6u);
  EXPECT_DOUBLE_EQ(ticks.values[3], 0.6);
}

TEST(VizTicks, RangeOffMultiplesTakesTheMultiplesInside) {
  EXPECT_THAT(nice_ticks(0, 97, 6).values, ElementsAre(0, 20, 40, 60, 80));
  EXPECT_THAT(nice_ticks(-3, 7, 5).values, ElementsAre(-2, 0, 2, 4, 6));
  EXPECT_THAT(nice_ticks(1.93, 4.61, 6).values, ElementsAre(2, 2.5, 3, 3.5, 4, 4.5));
}

TEST(VizTicks, StepIsOneTwoOrFiveTimesAPowerOfTen) {
  for (const double span : {0.003, 0.7, 1.0, 13.0, 250.0, 9999.0, 3e7}) {
    for (int max_ticks = 2; max_ticks <= 12; ++max_ticks) {
      const Ticks ticks = nice_ticks(-0.3 * span, span, max_ticks);
      const double mantissa = ticks.step / std::pow(10.0, std::floor(std::log10(ticks.step)));
      EXPECT_THAT(std::round(mantissa * 1000) / 1000, ::testing::AnyOf(1.0, 2.0, 5.0));
      EXPECT_LE(static_cast<int>(ticks.values.size()), max_ticks);
      EXPECT_GE(ticks.values.size(), 1u);
    }
  }
}

TEST(VizTicks, EqualEndsGiveOneTick) {
  EXPECT_THAT(nice_ticks(3.5, 3.5, 5).values, ElementsAre(3.5));
  EXPECT_THAT(nice_ticks(0, 0, 5).values, ElementsAre(0));
}

TEST(VizTicks, BadRangeThrows) {
  EXPECT_THROW(nice_ticks(1, 0, 5), Error);
  EXPECT_THROW(nice_ticks(0, kNaN, 5), Error);
  EXPECT_THROW(nice_ticks(0, INFINITY, 5), Error);
  EXPECT_THROW(nice_ticks(0, 1, 1), Error);
}

TEST(VizTicks, LabelsHaveTheDecimalsOfTheStep) {
  EXPECT_EQ(format_tick(0.25, 0.05), "0.25");
  EXPECT_EQ(format_tick(1500, 500), "1500");
  EXPECT_EQ(format_tick(0.6000000000000001, 0.2), "0.6");
  EXPECT_EQ(format_tick(-1e-17, 0.1), "0.0");
  EXPECT_EQ(format_tick(-2.5, 0.5), "-2.5");
  EXPECT_EQ(format_tick(0.00125, 5e-5), "0.00125");
  EXPECT_EQ(format_tick(2e6, 1e6), "2e+06");
  EXPECT_EQ(format_tick(2.5e7, 5e6), "2.5e+07");
  EXPECT_EQ(format_tick(0, 1e7), "0");
}

// ------------------------------------------------------------------ font

TEST(VizFont, MissingFontFileThrowsNamingThePath) {
  try {
    Font font("/no/such/dir/font.ttf");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("/no/such/dir/font.ttf"));
  }
}

TEST(VizFont, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_THAT(decode_utf8("a\xc3\xa9"), ElementsAre(U'a', U'\u00e9'));
  EXPECT_THAT(decode_utf8("\xff"
                          "b"),
              ElementsAre(U'\ufffd', U'b'));
  EXPECT_THAT(decode_utf8("\xe2\x82"), ElementsAre(U'\ufffd', U'\ufffd'));
  EXPECT_THAT(decode_utf8("\xc0\x80"), ElementsAre(U'\ufffd', U'\ufffd'));
}

TEST(VizFont, RenderedTextCoversPixelsWithinItsWidth) {
  const Font font;
  EXPECT_GT(font.text_width("attention", 14), font.text_width("attn", 14));
  EXPECT_GT(font.text_width("attn", 28), font.text_width("attn", 14));
  const TextMask mask = font.render("Ag", 20);
  EXPECT_EQ(mask.width, font.text_width("Ag", 20));
  EXPECT_EQ(mask.height, font.line_height(20));
  int covered = 0;
  for (uint8_t c : mask.coverage) covered += c > 128;
  EXPECT_GT(covered, 40);
}

// ------------------------------------------------------------------ canvas

TEST(VizCanvas, SavedPngReadsBackWithTheSamePixels) {
  const std::string path = testing::temp_dir("viz_canvas") + "/canvas.png";
  Canvas canvas(37, 23, Rgb{10, 20, 30});
  canvas.fill_rect({5, 4, 10, 6}, Rgb{200, 100, 50});
  canvas.set_pixel(36, 22, Rgb{1, 2, 3});
  canvas.save_png(path);
  const PngImage image = read_png(path);
  ASSERT_EQ(image.width, 37);
  ASSERT_EQ(image.height, 23);
  EXPECT_EQ(image.at(0, 0), (Rgb{10, 20, 30}));
  EXPECT_EQ(image.at(5, 4), (Rgb{200, 100, 50}));
  EXPECT_EQ(image.at(14, 9), (Rgb{200, 100, 50}));
  EXPECT_EQ(image.at(15, 9), (Rgb{10, 20, 30}));
  EXPECT_EQ(image.at(36, 22), (Rgb{1, 2, 3}));
}

TEST(VizCanvas, UnwritablePathThrowsAndLeavesNothingBehind) {
  const std::string dir = testing::temp_dir("viz_unwritable");
  Canvas canvas(8, 8);
  const std::string missing_dir = dir + "/missing/chart.png";
  try {
    canvas.save_png(missing_dir);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(missing_dir));
  }
  EXPECT_THAT(dir_entries(dir), IsEmpty());
  // A directory in the way: the temporary file is written, the rename fails and is cleaned up.
  fs::create_directory(dir + "/taken.png");
  EXPECT_THROW(canvas.save_png(dir + "/taken.png"), Error);
  EXPECT_THAT(dir_entries(dir), ElementsAre("taken.png"));
  EXPECT_TRUE(fs::is_directory(dir + "/taken.png"));
}

TEST(VizCanvas, BadSizeThrows) {
  EXPECT_THROW(Canvas(0, 10), Error);
  EXPECT_THROW(Canvas(10, -1), Error);
}

TEST(VizCanvas, AliasedLineUsesOnlyItsColour) {
  Canvas canvas(40, 40);
  const Rgb red{220, 0, 0};
  canvas.draw_line({3.5, 5.5}, {36.5, 30.5}, {red, 3.0, false});
  int painted = 0;
  for (const Rgb& p : canvas.pixels()) {
    EXPECT_TRUE(p == red || p == kWhite);
    painted += p == red;
  }
  EXPECT_GT(painted, 3 * 33);
  EXPECT_EQ(canvas.pixel(20, 18), red);  // on the line: y = 5.5 + (20.5 − 3.5) · 25 / 33 ≈ 18.4
  EXPECT_EQ(canvas.pixel(20, 30), kWhite);
}

TEST(VizCanvas, AntialiasedLineBlendsItsEdges) {
  Canvas canvas(40, 20);
  canvas.draw_line({0, 10.2}, {40, 10.2}, {kBlack, 2.0, true});
  EXPECT_EQ(canvas.pixel(20, 10), kBlack);
  // Row 9 has its centre 0.7 from the centre line (coverage 0.8), row 11 1.3 (coverage 0.2).
  const Rgb above = canvas.pixel(20, 9), below = canvas.pixel(20, 11);
  EXPECT_TRUE(above != kBlack && above != kWhite);
  EXPECT_TRUE(below != kBlack && below != kWhite);
  EXPECT_LT(luminance(above), luminance(below));
  EXPECT_EQ(canvas.pixel(20, 8), kWhite);
}

TEST(VizCanvas, TextIsDrawnInsideItsBoxAndRotatedTextIsTall) {
  const Font font;
  Canvas canvas(200, 200);
  const Rect flat = canvas.draw_text(font, 100, 20, "Heads", {16, kBlack, Align::kCenter});
  EXPECT_GT(flat.width, flat.height);
  EXPECT_EQ(flat.x + flat.width / 2, 100);
  const Rect up = canvas.draw_text(font, 30, 180, "Heads",
                                   {16, kBlack, Align::kLeft, VAlign::kTop, Rotation::kUp});
  EXPECT_EQ(up.width, flat.height);
  EXPECT_EQ(up.height, flat.width);
  EXPECT_EQ(up.bottom(), 180);
  int inside = 0, outside = 0;
  for (int y = 0; y < 200; ++y) {
    for (int x = 0; x < 200; ++x) {
      const bool in_box = (x >= flat.x && x < flat.right() && y >= flat.y && y < flat.bottom()) ||
                          (x >= up.x && x < up.right() && y >= up.y && y < up.bottom());
      (in_box ? inside : outside) += canvas.pixel(x, y) != kWhite;
    }
  }
  EXPECT_GT(inside, 100);
  EXPECT_EQ(outside, 0);
}

// ------------------------------------------------------------------ line chart

std::vector<double> range(int n) {
  std::vector<double> x(n);
  for (int i = 0; i < n; ++i) x[i] = i;
  return x;
}

// Training loss every step and validation loss every 10 steps, as a training run logs them.
std::vector<Series> loss_curves() {
  auto loss = [](double step) { return 4.0 * std::exp(-step / 30.0) + 1.0; };
  Series train{"train", range(101), {}}, valid{"validation", {}, {}};
  for (double step : train.x) train.y.push_back(loss(step));
  for (int step = 0; step <= 100; step += 10) {
    valid.x.push_back(step);
    valid.y.push_back(loss(step) + 0.3);
  }
  return {train, valid};
}

TEST(VizLineChart, WritesAPngOfTheRequestedSize) {
  const std::string path = testing::temp_dir("viz_line") + "/loss.png";
  draw_line_chart(loss_curves(), {"Loss", "step", "loss", 800, 500}, path);
  const PngImage image = read_png(path);
  EXPECT_EQ(image.width, 800);
  EXPECT_EQ(image.height, 500);
}

TEST(VizLineChart, SeriesPixelsHaveTheSeriesColour) {
  const std::string path = testing::temp_dir("viz_line_colour") + "/loss.png";
  const Figure figure = render_line_chart(loss_curves(), {"Loss", "step", "loss"});
  figure.canvas.save_png(path);
  const PngImage image = read_png(path);
  const Rect plot = figure.plots.at(0);
  // Validation points are 10 steps apart: the column between steps 50 and 60 crosses both lines.
  const int x = plot.x + plot.width * 55 / 100;
  const std::vector<int> train = rows_with_color(image, x, plot.y, plot.bottom(), series_color(0));
  const std::vector<int> valid = rows_with_color(image, x, plot.y, plot.bottom(), series_color(1));
  ASSERT_THAT(train, ::testing::Not(IsEmpty()));
  ASSERT_THAT(valid, ::testing::Not(IsEmpty()));
  EXPECT_LT(valid.back(), train.front());  // higher loss is drawn higher up
}

TEST(VizLineChart, MissingPointsLeaveAGap) {
  std::vector<double> y(11, 2.0);
  y[4] = y[5] = y[6] = kNaN;
  const Figure figure = render_line_chart({{"", range(11), y}}, {});
  const Rect plot = figure.plots.at(0);
  auto column = [&](double step) {
    return plot.x + static_cast<int>(plot.width * (0.02 + step * 0.96 / 10));
  };
  auto has_series = [&](int x) {
    for (int row = plot.y; row < plot.bottom(); ++row) {
      if (figure.canvas.pixel(x, row) == series_color(0)) return true;
    }
    return false;
  };
  EXPECT_TRUE(has_series(column(2)));
  EXPECT_FALSE(has_series(column(5)));
  EXPECT_TRUE(has_series(column(8)));
}

TEST(VizLineChart, SinglePointIsDrawnAsADot) {
  const Figure figure = render_line_chart({{"only", {3.0}, {0.5}}}, {});
  const Rect plot = figure.plots.at(0);
  EXPECT_EQ(figure.canvas.pixel(plot.x + plot.width / 2, plot.y + plot.height / 2),
            series_color(0));
}

TEST(VizLineChart, BadInputThrows) {
  EXPECT_THROW(render_line_chart({}, {}), Error);
  EXPECT_THROW(render_line_chart({{"empty", {}, {}}}, {}), Error);
  EXPECT_THROW(render_line_chart({{"short", {1, 2, 3}, {1, 2}}}, {}), Error);
  EXPECT_THROW(render_line_chart({{"nan", {1, 2}, {kNaN, kNaN}}}, {}), Error);
  EXPECT_THROW(render_line_chart({{"tiny", {1}, {1}}}, {"", "", "", 100, 100}), Error);
  try {
    render_line_chart({{"a", {1}, {1}}}, {"", "", "", 960, 600, "/missing/font.ttf"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("/missing/font.ttf"));
  }
}

}  // namespace
}  // namespace attn::viz
