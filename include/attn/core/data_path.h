// Where the data files are found at run time: the corpus, the sentiment sentences, the CMU
// dictionary and the small models of data/, installed as <prefix>/share/attn.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace attn {

// The folders searched, in order: $ATTN_DATA_DIR (when set), the install prefix's share/attn,
// then the source tree's data/ (the last fallback, for builds that were never installed).
std::vector<std::string> data_dirs();

// `relative` (a file or folder, e.g. "moby_dick.txt" or "sentiment") in the first of `dirs`
// that holds it; throws attn::Error naming every place tried.
std::string find_data(std::string_view relative, const std::vector<std::string>& dirs);

// find_data(relative, data_dirs()).
std::string data_path(std::string_view relative);

}  // namespace attn
