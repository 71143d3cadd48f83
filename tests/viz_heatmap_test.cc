#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "attn/core/error.h"
#include "attn/viz/color.h"
#include "attn/viz/font.h"
#include "attn/viz/heatmap.h"
#include "test_util.h"
#include "viz/heatmap_layout.h"
#include "viz_test_util.h"

namespace attn::viz {
namespace {

using testing::dir_entries;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::PngImage;
using testing::read_png;

Rgb cell_pixel(const PngImage& image, const Rect& plot, int rows, int cols, int r, int c) {
  const int cell_w = plot.width / cols, cell_h = plot.height / rows;
  return image.at(plot.x + c * cell_w + cell_w / 2, plot.y + r * cell_h + cell_h / 2);
}

TEST(VizHeatmap, CellColourIsTheColourMapOfItsValue) {
  const std::string path = testing::temp_dir("viz_heatmap") + "/cells.png";
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> values = {-1.0f, -0.5f, 0.0f, 0.5f,   //
                                     1.0f,  1.5f,  nan,  -7.0f,  //
                                     0.25f, 0.75f, 3.0f, -0.25f};
  HeatmapOptions options{"Weights", {"a", "b", "c"}, {"w", "x", "y", "z"}, "query", "key"};
  options.lo = -1.0;
  options.hi = 1.0;
  const Figure figure = render_heatmap({values, 3, 4, "head 0"}, options);
  figure.canvas.save_png(path);
  const PngImage image = read_png(path);
  ASSERT_EQ(image.width, figure.canvas.width());
  ASSERT_EQ(image.height, figure.canvas.height());
  const Rect plot = figure.plots.at(0);
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 4; ++c) {
      const float v = values[r * 4 + c];
      const Rgb expected = std::isnan(v) ? kMissing : viridis((v + 1.0) / 2.0);
      EXPECT_EQ(cell_pixel(image, plot, 3, 4, r, c), expected) << r << "," << c;
    }
  }
  EXPECT_EQ(cell_pixel(image, plot, 3, 4, 1, 1), viridis(1.0));  // 1.5 is clamped to hi
}

TEST(VizHeatmap, MatricesFromOneCellToTwoHundredSquareFitOnScreen) {
  for (const int n : {1, 2, 7, 30, 64, 200}) {
    const std::vector<float> values(static_cast<size_t>(n) * n, 0.5f);
    const Figure figure = render_heatmap({values, n, n, ""}, {"t", {}, {}, "query", "key"});
    const Rect plot = figure.plots.at(0);
    EXPECT_EQ(plot.width, plot.height) << n;
    EXPECT_EQ(plot.width % n, 0) << n;
    EXPECT_GE(plot.width, 48) << n;
    EXPECT_LE(plot.width, 640) << n;
    EXPECT_LE(figure.canvas.width(), 1000) << n;
    EXPECT_LE(figure.canvas.height(), 1000) << n;
  }
}

TEST(VizHeatmap, SingleRowGetsTallerCells) {
  const std::vector<float> values(40, 0.1f);
  const Figure figure = render_heatmap({values, 1, 40, ""}, {});
  EXPECT_GE(figure.plots.at(0).height, 40);
  EXPECT_EQ(figure.plots.at(0).width % 40, 0);
}

TEST(VizHeatmap, LabelsAreThinnedWhenCellsAreSmallerThanText) {
  const Font font;
  const std::vector<float> big(200 * 200, 0.0f), small(10 * 10, 0.0f);
  const detail::HeatmapLayout many = detail::lay_out_heatmaps(font, {{big, 200, 200, ""}}, {});
  EXPECT_GT(many.row_labels.stride, 1);
  EXPECT_GE(many.row_labels.stride * many.cell_h, font.line_height(many.row_labels.pixel_size));
  EXPECT_GT(many.col_labels.stride, 1);
  const detail::HeatmapLayout few = detail::lay_out_heatmaps(font, {{small, 10, 10, ""}}, {});
  EXPECT_EQ(few.row_labels.stride, 1);
  EXPECT_EQ(few.col_labels.stride, 1);
  EXPECT_FALSE(few.col_labels.rotated);
}

TEST(VizHeatmap, LongColumnLabelsAreRotated) {
  const Font font;
  const std::vector<float> values(3 * 3, 0.0f);
  HeatmapOptions options;
  options.col_labels = {"attention", "weights", "everywhere"};
  const detail::HeatmapLayout layout =
      detail::lay_out_heatmaps(font, {{values, 3, 3, ""}}, options);
  EXPECT_TRUE(layout.col_labels.rotated);
  EXPECT_EQ(layout.col_labels.stride, 1);
}

TEST(VizHeatmap, ColourBarRunsFromLoAtTheBottomToHiAtTheTop) {
  const Font font;
  const std::vector<float> values(4, 0.0f);
  const HeatmapOptions options;
  const Figure figure = render_heatmap({values, 2, 2, ""}, options);
  const detail::HeatmapLayout layout =
      detail::lay_out_heatmaps(font, {{values, 2, 2, ""}}, options);
  const Rect bar = layout.bar;
  const int x = bar.x + bar.width / 2;
  EXPECT_EQ(figure.canvas.pixel(x, bar.bottom() - 1), viridis(0.5 / bar.height));
  EXPECT_EQ(figure.canvas.pixel(x, bar.y), viridis((bar.height - 0.5) / bar.height));
  EXPECT_DOUBLE_EQ(layout.bar_ticks.values.front(), 0.0);
  EXPECT_DOUBLE_EQ(layout.bar_ticks.values.back(), 1.0);
}

TEST(VizHeatmap, GridPlacesPanelsRowByRowWithTheirOwnCells) {
  const std::string path = testing::temp_dir("viz_grid") + "/heads.png";
  std::vector<std::vector<float>> values;
  std::vector<Heatmap> maps;
  for (int h = 0; h < 5; ++h) values.emplace_back(16, h / 4.0f);
  for (int h = 0; h < 5; ++h) maps.push_back({values[h], 4, 4, "head " + std::to_string(h)});
  HeatmapOptions options{"All heads", {}, {}, "query", "key"};
  options.grid_cols = 3;
  const Figure figure = render_heatmaps(maps, options);
  draw_heatmaps(maps, options, path);
  const PngImage image = read_png(path);
  ASSERT_EQ(image.width, figure.canvas.width());
  ASSERT_EQ(figure.plots.size(), 5u);
  EXPECT_EQ(figure.plots[1].y, figure.plots[0].y);
  EXPECT_GT(figure.plots[1].x, figure.plots[0].right());
  EXPECT_EQ(figure.plots[3].x, figure.plots[0].x);
  EXPECT_GT(figure.plots[3].y, figure.plots[0].bottom());
  for (int h = 0; h < 5; ++h) {
    EXPECT_EQ(cell_pixel(image, figure.plots[h], 4, 4, 2, 1), viridis(h / 4.0)) << h;
  }
}

TEST(VizHeatmap, BadInputThrows) {
  const std::vector<float> six(6, 0.5f);
  EXPECT_THROW(render_heatmap({six, 2, 2, ""}, {}), Error);
  EXPECT_THROW(render_heatmap({{}, 0, 0, ""}, {}), Error);
  EXPECT_THROW(render_heatmaps({}, {}), Error);
  EXPECT_THROW(render_heatmaps({{six, 2, 3, ""}, {six, 3, 2, ""}}, {}), Error);
  try {
    render_heatmap({six, 2, 3, ""}, {.row_labels = {"a", "b", "c"}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("row_labels has 3 labels but the matrix has 2 rows"));
  }
  EXPECT_THROW(render_heatmap({six, 2, 3, ""}, {.col_labels = {"a", "b"}}), Error);
  HeatmapOptions flat;
  flat.lo = flat.hi = 1.0;
  EXPECT_THROW(render_heatmap({six, 2, 3, ""}, flat), Error);
  HeatmapOptions no_font;
  no_font.font_path = "/missing/font.ttf";
  EXPECT_THROW(render_heatmap({six, 2, 3, ""}, no_font), Error);
}

TEST(VizHeatmap, UnwritablePathThrowsAndLeavesNothingBehind) {
  const std::string dir = testing::temp_dir("viz_heatmap_unwritable");
  const std::vector<float> values(4, 0.5f);
  EXPECT_THROW(draw_heatmap({values, 2, 2, ""}, {}, dir + "/missing/map.png"), Error);
  EXPECT_THAT(dir_entries(dir), IsEmpty());
}

TEST(VizHeatmap, LabelsAreMadeVisibleAndShort) {
  EXPECT_EQ(display_label("a\nb\t"), "a\\nb\\t");
  EXPECT_EQ(display_label("\x01"), "\\x01");
  EXPECT_EQ(display_label("   "), "\u2423");
  EXPECT_EQ(display_label(" the"), " the");
  EXPECT_EQ(display_label("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(display_label("abcdefghijklmnop"), "abcdefghijk\u2026");
  EXPECT_EQ(display_label("abcdefghijkl"), "abcdefghijkl");
}

}  // namespace
}  // namespace attn::viz
