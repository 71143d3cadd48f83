// Font — a TrueType font loaded with FreeType, rendering UTF-8 text into coverage masks.
//
// Text is laid out on one line: glyph advances plus kerning, no shaping. Bytes that are not
// valid UTF-8 are drawn as U+FFFD, so any token string can be labelled.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace attn::viz {

// DejaVu Sans from the Debian package fonts-dejavu-core.
inline constexpr const char* kDefaultFontPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

// Coverage of rendered text: [height, width] row-major, 0 (empty) to 255 (fully covered). The
// box is the font's line box: `baseline` pixels from the top, the same for every text at a size.
struct TextMask {
  int width = 0;
  int height = 0;
  int baseline = 0;
  std::vector<uint8_t> coverage;
};

class Font {
 public:
  // Loads the font file; throws attn::Error naming `path` if FreeType cannot open it.
  explicit Font(const std::string& path = kDefaultFontPath);
  ~Font();
  Font(Font&&) noexcept;
  Font& operator=(Font&&) noexcept;

  // Width in pixels of `text` at `pixel_size` (the em height in pixels).
  int text_width(std::string_view text, int pixel_size) const;
  // Height of the line box at `pixel_size`: ascender + descender, in pixels.
  int line_height(int pixel_size) const;
  // `text` rendered anti-aliased at `pixel_size`.
  TextMask render(std::string_view text, int pixel_size) const;

  const std::string& path() const { return path_; }

 private:
  struct Face;
  std::string path_;
  std::unique_ptr<Face> face_;
};

// Unicode code points of `text`; invalid or truncated UTF-8 sequences become U+FFFD.
std::vector<char32_t> decode_utf8(std::string_view text);

}  // namespace attn::viz
