// The heat-map writer (one matrix, or a grid of panels sharing a colour bar, as a PNG file) and
// the attention explorer's page writer.
#include <string>
#include <tuple>
#include <vector>

#include "binding.h"

namespace attn::python {

namespace {

// values: [rows, cols] or [panels, rows, cols] float32, C-contiguous.
void heatmap(const py::array_t<float, py::array::c_style>& values, const std::string& path,
             const std::vector<std::string>& row_labels, const std::vector<std::string>& col_labels,
             const std::string& title, const std::string& row_axis_label,
             const std::string& col_axis_label, double lo, double hi,
             const std::vector<std::string>& panel_titles, int grid_cols) {
  ATTN_CHECK(values.ndim() == 2 || values.ndim() == 3,
             "weights: expected [rows, cols] or [panels, rows, cols], got ", values.ndim(),
             " dimensions");
  const int panels = values.ndim() == 3 ? int(values.shape(0)) : 1;
  const int rows = int(values.shape(values.ndim() - 2)),
            cols = int(values.shape(values.ndim() - 1));
  ATTN_CHECK(panel_titles.empty() || int(panel_titles.size()) == panels,
             "panel_titles: ", panel_titles.size(), " titles for ", panels, " panels");
  viz::HeatmapOptions options;
  options.title = title, options.row_labels = row_labels, options.col_labels = col_labels;
  options.row_axis_label = row_axis_label, options.col_axis_label = col_axis_label;
  options.lo = lo, options.hi = hi, options.grid_cols = grid_cols;
  std::vector<viz::Heatmap> maps;
  const size_t cells = size_t(rows) * size_t(cols);
  for (int i = 0; i < panels; ++i) {
    maps.push_back({std::span<const float>(values.data() + i * cells, cells), rows, cols,
                    panel_titles.empty() ? std::string() : panel_titles[size_t(i)]});
  }
  py::gil_scoped_release release;
  as_runtime_error([&] {
    if (values.ndim() == 2) return viz::draw_heatmap(maps[0], options, path);
    viz::draw_heatmaps(maps, options, path);
  });
}

// One map of an explorer page: name, query tokens, key tokens, query axis, key axis and the
// weights [layers, heads, queries, keys] float32, C-contiguous (checked by the Python side).
using PageMap = std::tuple<std::string, std::vector<std::string>, std::vector<std::string>,
                           std::string, std::string, py::array_t<float, py::array::c_style>>;

void attention_page(const std::string& path, const std::string& title, const std::string& kind,
                    const std::vector<std::string>& notes, const std::vector<PageMap>& maps) {
  viz::AttentionPage page{title, kind, notes, {}};
  for (const auto& [name, queries, keys, query_axis, key_axis, weights] : maps) {
    ATTN_CHECK(weights.ndim() == 4, "weights of '", name,
               "': expected [layers, heads, queries, keys], got ", weights.ndim(), " dimensions");
    page.maps.push_back({name, queries, keys, int(weights.shape(0)), int(weights.shape(1)),
                         std::span<const float>(weights.data(), size_t(weights.size())), query_axis,
                         key_axis});
  }
  py::gil_scoped_release release;
  as_runtime_error([&] { viz::write_attention_page(page, path); });
}

}  // namespace

void bind_viz(py::module_& m) {
  m.def("heatmap", &heatmap, py::arg("values"), py::arg("path"), py::arg("row_labels"),
        py::arg("col_labels"), py::arg("title"), py::arg("row_axis_label"),
        py::arg("col_axis_label"), py::arg("lo"), py::arg("hi"), py::arg("panel_titles"),
        py::arg("grid_cols"));
  m.def("attention_page", &attention_page, py::arg("path"), py::arg("title"), py::arg("kind"),
        py::arg("notes"), py::arg("maps"));
}

}  // namespace attn::python
