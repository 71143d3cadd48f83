#include "attn/core/data_path.h"

#include <cstdlib>
#include <filesystem>

#include "attn/core/error.h"

// Both are set by the build on this file alone.
#ifndef ATTN_INSTALL_DATA_DIR
#error "ATTN_INSTALL_DATA_DIR: the installed data folder, <prefix>/share/attn"
#endif
#ifndef ATTN_SOURCE_DATA_DIR
#error "ATTN_SOURCE_DATA_DIR: the source tree's data/ folder"
#endif

namespace attn {

std::vector<std::string> data_dirs() {
  std::vector<std::string> dirs;
  const char* env = std::getenv("ATTN_DATA_DIR");
  if (env != nullptr && *env != '\0') dirs.emplace_back(env);
  dirs.emplace_back(ATTN_INSTALL_DATA_DIR);
  dirs.emplace_back(ATTN_SOURCE_DATA_DIR);
  return dirs;
}

std::string find_data(std::string_view relative, const std::vector<std::string>& dirs) {
  std::string tried;
  for (const std::string& dir : dirs) {
    const std::filesystem::path path = std::filesystem::path(dir) / relative;
    std::error_code error;
    if (std::filesystem::exists(path, error)) return path.string();
    tried += (tried.empty() ? "" : ", ") + path.string();
  }
  detail::throw_error("data file '", relative, "' not found (tried ", tried,
                      "; set ATTN_DATA_DIR to the folder that holds it)");
}

std::string data_path(std::string_view relative) { return find_data(relative, data_dirs()); }

}  // namespace attn
