// The lookup of data files: $ATTN_DATA_DIR, then the installed share/attn, then the source tree.
#include "attn/core/data_path.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "attn/core/error.h"
#include "test_util.h"

namespace attn {
namespace {

using ::testing::HasSubstr;
using testing::temp_dir;

// Sets or clears ATTN_DATA_DIR for the life of the object.
class DataDirEnv {
 public:
  explicit DataDirEnv(const char* value) {
    if (value != nullptr) {
      setenv("ATTN_DATA_DIR", value, 1);
    } else {
      unsetenv("ATTN_DATA_DIR");
    }
  }
  ~DataDirEnv() { unsetenv("ATTN_DATA_DIR"); }
};

TEST(DataPath, SearchesTheEnvironmentThenTheInstallThenTheSourceTree) {
  const DataDirEnv env("/somewhere/data");
  const std::vector<std::string> dirs = data_dirs();
  ASSERT_EQ(dirs.size(), 3u);
  EXPECT_EQ(dirs[0], "/somewhere/data");
  EXPECT_THAT(dirs[1], HasSubstr("share/attn"));
  EXPECT_EQ(std::filesystem::path(dirs[2]), std::filesystem::path(ATTN_DATA_DIR));
}

TEST(DataPath, WithoutTheVariableStartsAtTheInstall) {
  const DataDirEnv env(nullptr);
  const std::vector<std::string> dirs = data_dirs();
  ASSERT_EQ(dirs.size(), 2u);
  EXPECT_THAT(dirs[0], HasSubstr("share/attn"));
}

TEST(DataPath, TheFirstFolderThatHoldsTheFileWins) {
  const std::string first = temp_dir("data_first"), second = temp_dir("data_second");
  std::ofstream(second + "/corpus.txt") << "second";
  EXPECT_EQ(find_data("corpus.txt", {first, second}), second + "/corpus.txt");
  std::ofstream(first + "/corpus.txt") << "first";
  EXPECT_EQ(find_data("corpus.txt", {first, second}), first + "/corpus.txt");
}

TEST(DataPath, TheVariableOverridesTheSourceTree) {
  const std::string dir = temp_dir("data_env");
  std::filesystem::create_directories(dir + "/sentiment");
  const DataDirEnv env(dir.c_str());
  EXPECT_EQ(data_path("sentiment"), dir + "/sentiment");
  // Not in $ATTN_DATA_DIR: found further down the list (the install, else the source tree).
  const std::vector<std::string> dirs = data_dirs();
  EXPECT_EQ(data_path("moby_dick.txt"), find_data("moby_dick.txt", {dirs[1], dirs[2]}));
}

TEST(DataPath, AMissingFileNamesEveryPlaceTried) {
  try {
    find_data("nothing.txt", {"/a", "/b"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("/a/nothing.txt, /b/nothing.txt"));
    EXPECT_THAT(e.what(), HasSubstr("ATTN_DATA_DIR"));
  }
}

}  // namespace
}  // namespace attn
