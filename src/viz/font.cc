#include "attn/viz/font.h"

#include <ft2build.h>
#include FT_FREETYPE_H

#include <algorithm>
#include <cmath>

#include "attn/core/error.h"

namespace attn::viz {

struct Font::Face {
  FT_Library library = nullptr;
  FT_Face face = nullptr;
  ~Face() {
    if (face != nullptr) FT_Done_Face(face);
    if (library != nullptr) FT_Done_FreeType(library);
  }
};

namespace {

constexpr char32_t kReplacement = 0xfffd;
// Light hinting: snaps vertically only, so glyph spacing stays even at small sizes.
constexpr FT_Int32 kLoadFlags = FT_LOAD_TARGET_LIGHT;

// Length of the UTF-8 sequence led by `lead`, or 0 if `lead` cannot start one.
int sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

// The code point of the `length`-byte sequence at `s`, or kReplacement if it is malformed,
// overlong, a surrogate or beyond U+10FFFF.
char32_t decode_sequence(const unsigned char* s, int length) {
  static constexpr char32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
  if (length == 1) return s[0];
  char32_t code = s[0] & (0x7f >> length);
  for (int i = 1; i < length; ++i) {
    if ((s[i] & 0xc0) != 0x80) return kReplacement;
    code = (code << 6) | (s[i] & 0x3f);
  }
  const bool surrogate = code >= 0xd800 && code <= 0xdfff;
  return code < kMinimum[length] || surrogate || code > 0x10ffff ? kReplacement : code;
}

int ceil_26_6(FT_Pos value) { return static_cast<int>((value + 63) >> 6); }

void set_pixel_size(FT_Face face, int pixel_size) {
  ATTN_CHECK(pixel_size > 0, "font pixel size must be positive, got ", pixel_size);
  ATTN_CHECK(FT_Set_Pixel_Sizes(face, 0, static_cast<FT_UInt>(pixel_size)) == 0,
             "cannot set font pixel size ", pixel_size);
}

// Calls `on_glyph(pen_x)` for each glyph of `text` after loading it into face->glyph with
// `load_flags`; pen_x is the glyph origin in 26.6 fixed point. Returns the total advance.
template <typename OnGlyph>
FT_Pos lay_out(FT_Face face, std::string_view text, FT_Int32 load_flags, OnGlyph on_glyph) {
  FT_Pos pen = 0;
  FT_UInt previous = 0;
  for (const char32_t code : decode_utf8(text)) {
    const FT_UInt index = FT_Get_Char_Index(face, code);
    if (previous != 0 && index != 0 && FT_HAS_KERNING(face)) {
      FT_Vector delta{};
      FT_Get_Kerning(face, previous, index, FT_KERNING_DEFAULT, &delta);
      pen += delta.x;
    }
    if (FT_Load_Glyph(face, index, load_flags) != 0) continue;
    on_glyph(pen);
    pen += face->glyph->advance.x;
    previous = index;
  }
  return pen;
}

// Max-combines the rendered glyph in face->glyph into `mask` with its origin at (x, baseline).
void stamp_glyph(const FT_GlyphSlot glyph, int x, TextMask& mask) {
  const FT_Bitmap& bitmap = glyph->bitmap;
  if (bitmap.pixel_mode != FT_PIXEL_MODE_GRAY) return;
  const int left = x + glyph->bitmap_left;
  const int top = mask.baseline - glyph->bitmap_top;
  for (int row = 0; row < static_cast<int>(bitmap.rows); ++row) {
    const int y = top + row;
    if (y < 0 || y >= mask.height) continue;
    const unsigned char* source = bitmap.buffer + row * bitmap.pitch;
    for (int col = 0; col < static_cast<int>(bitmap.width); ++col) {
      const int mx = left + col;
      if (mx < 0 || mx >= mask.width) continue;
      uint8_t& cell = mask.coverage[static_cast<size_t>(y) * mask.width + mx];
      cell = std::max(cell, static_cast<uint8_t>(source[col]));
    }
  }
}

}  // namespace

std::vector<char32_t> decode_utf8(std::string_view text) {
  std::vector<char32_t> codes;
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    const int length = sequence_length(bytes[i]);
    if (length == 0 || i + length > text.size()) {
      codes.push_back(kReplacement);
      ++i;
      continue;
    }
    const char32_t code = decode_sequence(bytes + i, length);
    codes.push_back(code);
    // A malformed sequence consumes only its lead byte, so the next valid character survives.
    i += code == kReplacement ? 1 : length;
  }
  return codes;
}

Font::Font(const std::string& path) : path_(path), face_(std::make_unique<Face>()) {
  ATTN_CHECK(FT_Init_FreeType(&face_->library) == 0, "cannot initialise FreeType for font ", path);
  const FT_Error error = FT_New_Face(face_->library, path.c_str(), 0, &face_->face);
  if (error != 0) face_->face = nullptr;
  ATTN_CHECK(error == 0, "cannot load font ", path, " (FreeType error ", error,
             error == FT_Err_Cannot_Open_Resource ? ": cannot open the file" : "", ")");
}

Font::~Font() = default;
Font::Font(Font&&) noexcept = default;
Font& Font::operator=(Font&&) noexcept = default;

int Font::text_width(std::string_view text, int pixel_size) const {
  set_pixel_size(face_->face, pixel_size);
  return ceil_26_6(lay_out(face_->face, text, kLoadFlags, [](FT_Pos) {}));
}

int Font::line_height(int pixel_size) const {
  set_pixel_size(face_->face, pixel_size);
  const FT_Size_Metrics& metrics = face_->face->size->metrics;
  return ceil_26_6(metrics.ascender) + ceil_26_6(-metrics.descender);
}

TextMask Font::render(std::string_view text, int pixel_size) const {
  TextMask mask;
  mask.width = text_width(text, pixel_size);
  mask.height = line_height(pixel_size);
  mask.baseline = ceil_26_6(face_->face->size->metrics.ascender);
  mask.coverage.assign(static_cast<size_t>(mask.width) * mask.height, 0);
  FT_Face face = face_->face;
  lay_out(face, text, kLoadFlags | FT_LOAD_RENDER,
          [&](FT_Pos pen) { stamp_glyph(face->glyph, static_cast<int>((pen + 32) >> 6), mask); });
  return mask;
}

}  // namespace attn::viz
