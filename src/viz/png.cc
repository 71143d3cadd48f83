// Canvas::save_png: libpng writing through callbacks into an AtomicFile.
//
// libpng reports errors by longjmp. The callbacks below never let a C++ exception cross libpng's
// C frames: a failed write is caught, its message kept, and then reported to libpng. The only
// frame that longjmp skips back to holds no object with a destructor.
#include <png.h>

#include <csetjmp>
#include <string>
#include <vector>

#include "attn/core/atomic_file.h"
#include "attn/core/error.h"
#include "attn/viz/canvas.h"

namespace attn::viz {

namespace {

static_assert(sizeof(Rgb) == 3, "Canvas rows are passed to libpng as packed RGB bytes");

struct PngSink {
  AtomicFile* file = nullptr;
  std::string write_error;  // the attn::Error of a failed AtomicFile::write
  std::string png_error;    // libpng's own message
};

void write_bytes(png_structp png, png_bytep data, size_t size) {
  auto* sink = static_cast<PngSink*>(png_get_io_ptr(png));
  bool failed = false;
  try {
    sink->file->write(data, size);
  } catch (const std::exception& e) {
    sink->write_error = e.what();
    failed = true;
  }
  if (failed) png_error(png, "write failed");
}

void flush_bytes(png_structp) {}

void on_png_error(png_structp png, png_const_charp message) {
  auto* sink = static_cast<PngSink*>(png_get_error_ptr(png));
  sink->png_error = message;
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

// Encodes the rows; false if libpng reported an error (its message is in the sink).
bool encode(png_structp png, png_infop info, png_bytepp rows, int width, int height) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_write_fn(png, png_get_error_ptr(png), write_bytes, flush_bytes);
  png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, info);
  return true;
}

}  // namespace

void Canvas::save_png(const std::string& path) const {
  AtomicFile file(path);
  PngSink sink{&file, {}, {}};
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, on_png_error, on_png_warning);
  png_infop info = png != nullptr ? png_create_info_struct(png) : nullptr;
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    detail::throw_error("cannot write ", path, ": libpng could not start");
  }
  std::vector<png_bytep> rows(height_);
  for (int y = 0; y < height_; ++y) {
    rows[y] = const_cast<png_bytep>(reinterpret_cast<const png_byte*>(&pixels_[index(0, y)]));
  }
  const bool ok = encode(png, info, rows.data(), width_, height_);
  png_destroy_write_struct(&png, &info);
  if (!ok && !sink.write_error.empty()) throw Error(sink.write_error);
  ATTN_CHECK(ok, "cannot write ", path, ": libpng: ", sink.png_error);
  file.commit();
}

}  // namespace attn::viz
