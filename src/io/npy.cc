// Reading and writing NumPy .npy files; the format is described at
// https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
#include "attn/io/npy.h"

#include <sys/stat.h>

#include <bit>
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <iterator>
#include <memory>
#include <string_view>

#include "attn/core/element_type.h"
#include "attn/core/error.h"

namespace attn {

static_assert(std::endian::native == std::endian::little,
              "the .npy reader and writer assume a little-endian host");

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kMaxHeaderSize = 64 * 1024;  // NumPy itself refuses headers over 10 KB
constexpr size_t kMaxDims = 64;               // NumPy's NPY_MAXDIMS
constexpr size_t kHeaderAlignment = 64;
constexpr size_t kMaxQuotedChars = 40;

struct DTypeInfo {
  DType dtype;
  const char* name;  // as NumPy spells it
  const char* code;  // the descr without its byte-order character
  size_t size;
};

// Indexed by DType.
constexpr DTypeInfo kDTypes[] = {
    {DType::kFloat32, "float32", "f4", 4}, {DType::kFloat64, "float64", "f8", 8},
    {DType::kInt32, "int32", "i4", 4},     {DType::kInt64, "int64", "i8", 8},
    {DType::kBool, "bool", "b1", 1},       {DType::kUInt8, "uint8", "u1", 1},
    {DType::kFloat16, "float16", "f2", 2},
};

constexpr bool dtypes_in_enum_order() {
  for (size_t i = 0; i < std::size(kDTypes); ++i) {
    if (static_cast<size_t>(kDTypes[i].dtype) != i) return false;
  }
  return true;
}
static_assert(dtypes_in_enum_order());

const DTypeInfo& info(DType dtype) { return kDTypes[static_cast<size_t>(dtype)]; }

// The shape as Python writes a tuple: "()", "(3,)", "(2, 3)".
std::string shape_tuple(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + (shape.size() == 1 ? ",)" : ")");
}

// `text` cut short so that error messages stay one readable line.
std::string abbreviated(std::string_view text) {
  if (text.size() <= kMaxQuotedChars) return std::string(text);
  return std::string(text.substr(0, kMaxQuotedChars)) + "...";
}

std::string quoted(std::string_view text) {
  std::string out = "'";  // built by appends: "'" + std::string&& trips a GCC 12 -Wrestrict bug
  out += abbreviated(text);
  out += '\'';
  return out;
}

// Elements of `shape`; throws, naming `what`, on a negative dim or an int64 overflow.
int64_t checked_num_elements(const std::vector<int64_t>& shape, const std::string& what) {
  ATTN_CHECK(shape.size() <= kMaxDims, what, ": shape has ", shape.size(),
             " dimensions, more than the limit of ", kMaxDims);
  int64_t count = 1;
  for (int64_t dim : shape) {
    ATTN_CHECK(dim >= 0, what, ": negative dimension ", dim, " in shape ", shape_tuple(shape));
    ATTN_CHECK(!__builtin_mul_overflow(count, dim, &count), what, ": shape ", shape_tuple(shape),
               " has too many elements (overflows int64)");
  }
  return count;
}

// Bytes of data of an array of `shape` and `dtype`, checked for overflow.
uint64_t checked_data_size(const std::vector<int64_t>& shape, DType dtype,
                           const std::string& what) {
  uint64_t bytes = 0;
  ATTN_CHECK(!__builtin_mul_overflow(static_cast<uint64_t>(checked_num_elements(shape, what)),
                                     info(dtype).size, &bytes),
             what, ": shape ", shape_tuple(shape), " of ", dtype_name(dtype),
             " has too many bytes (overflows uint64)");
  return bytes;
}

// ---------------------------------------------------------------- reading

// Where the header dict lies in the file.
struct HeaderSpan {
  size_t offset = 0;
  size_t size = 0;
};

uint32_t load_le(const uint8_t* bytes, size_t count) {
  uint32_t value = 0;
  for (size_t i = 0; i < count; ++i) value |= static_cast<uint32_t>(bytes[i]) << (8 * i);
  return value;
}

// Checks the magic and version and returns where the header dict lies.
HeaderSpan parse_preamble(const uint8_t* bytes, size_t size, const std::string& name) {
  ATTN_CHECK(size >= kMagicSize, name, ": file is too short (", size, " bytes) to be a .npy file");
  ATTN_CHECK(std::memcmp(bytes, kMagic, kMagicSize) == 0, name,
             ": not a .npy file (bad magic; expected \\x93NUMPY)");
  ATTN_CHECK(size >= kMagicSize + 2, name, ": truncated file: ends inside the format version");
  const int major = bytes[kMagicSize];
  const int minor = bytes[kMagicSize + 1];
  ATTN_CHECK(major >= 1 && major <= 3 && minor == 0, name, ": unsupported .npy format version ",
             major, ".", minor, " (supported: 1.0, 2.0, 3.0)");
  const size_t length_bytes = major == 1 ? 2 : 4;
  HeaderSpan span;
  span.offset = kMagicSize + 2 + length_bytes;
  ATTN_CHECK(size >= span.offset, name, ": truncated file: ends inside the header length");
  span.size = load_le(bytes + kMagicSize + 2, length_bytes);
  ATTN_CHECK(span.size <= kMaxHeaderSize, name, ": header length ", span.size,
             " bytes exceeds the limit of ", kMaxHeaderSize, " bytes");
  ATTN_CHECK(size - span.offset >= span.size, name, ": truncated file: header declares ", span.size,
             " bytes but only ", size - span.offset, " follow");
  return span;
}

struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

// Parses the Python dict literal of a .npy header, such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// Keys may come in any order; whitespace and trailing commas are allowed.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& name) : text_(text), name_(name) {}

  Header parse() {
    expect('{', "at the start of the header");
    Header header;
    while (!consume('}')) {
      parse_entry(header);
      if (!consume(',')) {
        expect('}', "after a value");
        break;
      }
    }
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the closing '}'");
    for (const char* key : {"descr", "fortran_order", "shape"}) {
      ATTN_CHECK(seen(key), name_, ": corrupt .npy header: missing key '", key, "'");
    }
    return header;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    detail::throw_error(name_, ": corrupt .npy header: ", problem, " (at byte ", pos_,
                        " of the header)");
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  char peek() {
    skip_space();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

  bool consume(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

  void expect(char c, const char* where) {
    if (!consume(c)) fail(std::string("expected '") + c + "' " + where);
  }

  bool seen(const std::string& key) const {
    for (const std::string& k : keys_) {
      if (k == key) return true;
    }
    return false;
  }

  // A quoted string of printable ASCII without escapes.
  std::string parse_string() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    const size_t begin = ++pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      const unsigned char c = text_[pos_];
      if (c < 0x20 || c > 0x7e || c == '\\') fail("unsupported character in a string");
      ++pos_;
    }
    if (pos_ == text_.size()) fail("unterminated string");
    return std::string(text_.substr(begin, pos_++ - begin));
  }

  void parse_entry(Header& header) {
    const std::string key = parse_string();
    ATTN_CHECK(!seen(key), name_, ": corrupt .npy header: duplicate key ", quoted(key));
    keys_.push_back(key);
    expect(':', "after a key");
    if (key == "descr") {
      header.descr = parse_descr();
    } else if (key == "fortran_order") {
      header.fortran_order = parse_bool();
    } else if (key == "shape") {
      header.shape = parse_shape();
    } else {
      detail::throw_error(name_, ": corrupt .npy header: unexpected key ", quoted(key));
    }
  }

  std::string parse_descr() {
    ATTN_CHECK(peek() != '[', name_, ": structured dtypes (a list as 'descr') are not supported");
    return parse_string();
  }

  bool parse_bool() {
    skip_space();
    for (const bool value : {true, false}) {
      const std::string_view word = value ? "True" : "False";
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    }
    fail("'fortran_order' must be True or False");
  }

  // A tuple of non-negative integers, such as (), (3,) or (2, 3). Python 2 wrote (2L, 3L).
  std::vector<int64_t> parse_shape() {
    expect('(', "at the start of 'shape'");
    std::vector<int64_t> shape;
    while (!consume(')')) {
      ATTN_CHECK(shape.size() < kMaxDims, name_, ": shape has more than ", kMaxDims, " dimensions");
      shape.push_back(parse_dim());
      if (!consume(',')) {
        expect(')', "after a dimension");
        break;
      }
    }
    return shape;
  }

  int64_t parse_dim() {
    const bool negative = consume('-');
    const size_t begin = pos_;
    int64_t value = 0;
    bool overflow = false;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      overflow |= __builtin_mul_overflow(value, 10, &value) ||
                  __builtin_add_overflow(value, text_[pos_] - '0', &value);
      ++pos_;
    }
    if (pos_ == begin) fail("expected a dimension in 'shape'");
    const std::string_view digits = text_.substr(begin, pos_ - begin);
    ATTN_CHECK(!negative, name_, ": negative dimension -", abbreviated(digits), " in shape");
    ATTN_CHECK(!overflow, name_, ": dimension ", abbreviated(digits),
               " in shape is too large (overflows int64)");
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;
    return value;
  }

  std::string_view text_;
  const std::string& name_;
  size_t pos_ = 0;
  std::vector<std::string> keys_;
};

// Maps a descr such as '<f4' to its DType. One-byte types ignore the byte-order character.
DType parse_dtype(const std::string& descr, const std::string& name) {
  if (descr.size() == 3) {
    const char order = descr[0];
    for (const DTypeInfo& entry : kDTypes) {
      if (descr.compare(1, 2, entry.code) != 0) continue;
      const bool single_byte = entry.size == 1;
      if (order == '<' || (single_byte && (order == '|' || order == '>' || order == '='))) {
        return entry.dtype;
      }
      ATTN_CHECK(order != '>', name, ": big-endian ", dtype_name(entry.dtype), " ", quoted(descr),
                 " is not supported; convert with arr.astype('<", entry.code, "')");
    }
  }
  detail::throw_error(name, ": unsupported dtype ", quoted(descr),
                      " (supported: '<f4', '<f8', '<f2', '<i4', '<i8', '|b1', '|u1')");
}

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

std::vector<uint8_t> read_file(const std::string& path) {
  const std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  ATTN_CHECK(file, "cannot open ", path, ": ", std::strerror(errno));
  struct stat status {};
  std::vector<uint8_t> bytes;
  if (::fstat(::fileno(file.get()), &status) == 0 && S_ISREG(status.st_mode)) {
    bytes.reserve(static_cast<size_t>(status.st_size));
  }
  uint8_t chunk[1 << 16];
  size_t got = 0;
  while ((got = std::fread(chunk, 1, sizeof(chunk), file.get())) > 0) {
    bytes.insert(bytes.end(), chunk, chunk + got);
  }
  ATTN_CHECK(!std::ferror(file.get()), "cannot read ", path, ": ", std::strerror(errno));
  return bytes;
}

// ---------------------------------------------------------------- conversion

// The data of `array`, after checking that its size matches the shape and dtype.
const std::vector<uint8_t>& checked_data(const NpyArray& array, const char* what) {
  const uint64_t expected = checked_data_size(array.shape, array.dtype, what);
  ATTN_CHECK(array.data.size() == expected, what, ": a ", dtype_name(array.dtype),
             " array of shape ", shape_tuple(array.shape), " needs ", expected,
             " bytes of data, has ", array.data.size());
  return array.data;
}

// Reads the elements as From (memcpy: the bytes need not be aligned) and converts each to To.
template <typename From, typename To, typename Convert>
std::vector<To> convert_elements(const std::vector<uint8_t>& data, Convert convert) {
  std::vector<To> out(data.size() / sizeof(From));
  for (size_t i = 0; i < out.size(); ++i) {
    From value;
    std::memcpy(&value, data.data() + i * sizeof(From), sizeof(From));
    out[i] = convert(value);
  }
  return out;
}

// double to float as NumPy's astype does it: out-of-range values become ±inf (a plain cast
// would be undefined behaviour).
float narrow_to_float(double value) {
  if (value > FLT_MAX) return INFINITY;
  if (value < -FLT_MAX) return -INFINITY;
  return static_cast<float>(value);
}

// ---------------------------------------------------------------- writing

// The format 1.0 header of a C-order float32 array, padded with spaces and a final '\n' so
// that the data starts at a multiple of 64 bytes.
std::string float32_header(const std::vector<int64_t>& shape) {
  std::string dict =
      "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_tuple(shape) + ", }";
  const size_t preamble = kMagicSize + 2 + 2;
  const size_t unpadded = preamble + dict.size() + 1;
  const size_t padded = (unpadded + kHeaderAlignment - 1) / kHeaderAlignment * kHeaderAlignment;
  dict.append(padded - unpadded, ' ');
  dict += '\n';
  const size_t length = dict.size();  // < 4 KiB with at most kMaxDims dims: fits in a u16
  std::string header(kMagic, kMagicSize);
  header += {'\x01', '\x00', static_cast<char>(length & 0xff), static_cast<char>(length >> 8)};
  return header + dict;
}

}  // namespace

const char* dtype_name(DType dtype) {
  const size_t index = static_cast<size_t>(dtype);
  return index < std::size(kDTypes) ? kDTypes[index].name : "unknown";
}

int64_t NpyArray::num_elements() const { return checked_num_elements(shape, "npy array"); }

std::vector<float> NpyArray::to_float32() const {
  const std::vector<uint8_t>& bytes = checked_data(*this, "to_float32");
  if (dtype == DType::kFloat32) {
    return convert_elements<float, float>(bytes, [](float v) { return v; });
  }
  if (dtype == DType::kFloat16) {
    return convert_elements<uint16_t, float>(
        bytes, [](uint16_t bits) { return to_float(bits, ElementType::kF16); });
  }
  ATTN_CHECK(dtype == DType::kFloat64,
             "to_float32: expected a float32, float64 or float16 array, got ", dtype_name(dtype));
  return convert_elements<double, float>(bytes, narrow_to_float);
}

std::vector<int64_t> NpyArray::to_int64() const {
  const std::vector<uint8_t>& bytes = checked_data(*this, "to_int64");
  if (dtype == DType::kInt64) {
    return convert_elements<int64_t, int64_t>(bytes, [](int64_t v) { return v; });
  }
  ATTN_CHECK(dtype == DType::kInt32, "to_int64: expected an int32 or int64 array, got ",
             dtype_name(dtype));
  return convert_elements<int32_t, int64_t>(bytes, [](int32_t v) { return int64_t{v}; });
}

std::vector<uint8_t> NpyArray::to_bool() const {
  const std::vector<uint8_t>& bytes = checked_data(*this, "to_bool");
  ATTN_CHECK(dtype == DType::kBool || dtype == DType::kUInt8,
             "to_bool: expected a bool or uint8 array, got ", dtype_name(dtype));
  return convert_elements<uint8_t, uint8_t>(bytes, [](uint8_t v) { return uint8_t{v != 0}; });
}

NpyArray parse_npy(const uint8_t* bytes, size_t size, const std::string& name) {
  const HeaderSpan span = parse_preamble(bytes, size, name);
  const std::string_view text(reinterpret_cast<const char*>(bytes) + span.offset, span.size);
  const Header header = HeaderParser(text, name).parse();
  NpyArray array;
  array.dtype = parse_dtype(header.descr, name);
  ATTN_CHECK(!header.fortran_order, name,
             ": Fortran-order arrays are not supported; save with np.ascontiguousarray");
  array.shape = header.shape;
  const uint64_t data_size = checked_data_size(array.shape, array.dtype, name);
  const size_t data_offset = span.offset + span.size;
  const size_t available = size - data_offset;
  ATTN_CHECK(available >= data_size, name, ": truncated file: ", dtype_name(array.dtype),
             " data of shape ", shape_tuple(array.shape), " needs ", data_size, " bytes but only ",
             available, " follow the header");
  ATTN_CHECK(available == data_size, name, ": file has ", available - data_size,
             " extra bytes after the ", data_size, " bytes of data");
  array.data.assign(bytes + data_offset, bytes + data_offset + data_size);
  return array;
}

NpyArray read_npy(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  return parse_npy(bytes.data(), bytes.size(), path);
}

void write_npy(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  const int64_t count = checked_num_elements(shape, path);
  NpyStreamWriter writer(path, shape);
  writer.append(data, static_cast<size_t>(count));
  writer.finish();
}

// ---------------------------------------------------------------- NpyStreamWriter

NpyStreamWriter::NpyStreamWriter(const std::string& path, const std::vector<int64_t>& shape)
    : file_(path), expected_(checked_data_size(shape, DType::kFloat32, path) / sizeof(float)) {
  const std::string header = float32_header(shape);
  file_.write(header.data(), header.size());
}

void NpyStreamWriter::append(const float* data, size_t n) {
  const std::string& path = file_.path();
  ATTN_CHECK(file_.is_open(), path, ": append() on a writer that is finished or failed");
  ATTN_CHECK(n <= expected_ - written_, path, ": appending ", n,
             " elements would exceed the array's ", expected_, " elements (", written_,
             " already written)");
  if (n == 0) return;
  ATTN_CHECK(data != nullptr, path, ": append() of ", n, " elements from a null pointer");
  file_.write(data, n * sizeof(float));
  written_ += n;
}

void NpyStreamWriter::finish() {
  const std::string& path = file_.path();
  ATTN_CHECK(file_.is_open(), path, ": finish() on a writer that is finished or failed");
  ATTN_CHECK(written_ == expected_, path, ": finish() after ", written_, " of the array's ",
             expected_, " elements");
  file_.commit();
}

}  // namespace attn
