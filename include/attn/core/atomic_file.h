// AtomicFile — writes a file so that readers see either the old file or the whole new one.
//
// Bytes go to a temporary file beside the target; commit() flushes, fsyncs and renames it into
// place (then fsyncs the directory, best effort). If commit() is never reached — an error, an
// exception, a crash — the target is untouched and the destructor removes the temporary file.
// Used for every output the project writes: .npy arrays, checkpoints and PNG charts.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

namespace attn {

class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);  // throws attn::Error if no temp file can be made
  ~AtomicFile();                                 // removes the temporary file unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Appends `size` bytes; throws attn::Error (and discards the temporary file) on failure.
  void write(const void* data, size_t size);
  // Makes the written bytes the file at `path`. Throws on failure, leaving the old file.
  void commit();
  // True until commit() succeeds or a write fails.
  bool is_open() const { return file_ != nullptr; }
  const std::string& path() const { return path_; }

 private:
  void discard();

  std::string path_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
};

}  // namespace attn
