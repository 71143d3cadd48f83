#include "attn/core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "attn/core/error.h"

namespace attn {

namespace {

// Makes the rename durable; best effort, since some file systems refuse fsync on a directory.
void sync_parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
  std::string temp_path = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(temp_path.data());
  ATTN_CHECK(fd >= 0, "cannot create a temporary file beside ", path, ": ", std::strerror(errno));
  temp_path_ = temp_path;
  // mkstemp creates the file as 0600; give the result the mode of an ordinary new file.
  ::fchmod(fd, 0644);
  file_ = ::fdopen(fd, "wb");
  if (file_ == nullptr) {
    const int error = errno;
    ::close(fd);
    discard();
    detail::throw_error("cannot open a temporary file beside ", path, ": ", std::strerror(error));
  }
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() {
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
  temp_path_.clear();
}

void AtomicFile::write(const void* data, size_t size) {
  ATTN_CHECK(file_ != nullptr, path_, ": write to a file that is committed or failed");
  if (size == 0 || std::fwrite(data, 1, size, file_) == size) return;
  const int error = errno;
  discard();
  detail::throw_error("cannot write ", path_, ": ", std::strerror(error));
}

void AtomicFile::commit() {
  ATTN_CHECK(file_ != nullptr, path_, ": commit of a file that is committed or failed");
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0) {
    const int error = errno;
    discard();
    detail::throw_error("cannot write ", path_, ": ", std::strerror(error));
  }
  std::FILE* file = file_;
  file_ = nullptr;
  if (std::fclose(file) != 0 || std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int error = errno;
    discard();
    detail::throw_error("cannot write ", path_, ": ", std::strerror(error));
  }
  temp_path_.clear();
  sync_parent_dir(path_);
}

}  // namespace attn
