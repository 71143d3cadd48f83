#include "attn/io/npy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

#include "attn/core/error.h"
#include "test_util.h"

namespace attn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

namespace fs = std::filesystem;

std::string sample_path(const std::string& file) {
  return std::string(ATTN_TEST_DATA_DIR) + "/npy/" + file;
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

template <typename T>
std::vector<uint8_t> raw(std::initializer_list<T> values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(T));
  if (!bytes.empty()) std::memcpy(bytes.data(), values.begin(), bytes.size());
  return bytes;
}

// A .npy file of format major.0 whose header is `dict` as given (no padding), then `data`.
std::vector<uint8_t> npy_file(const std::string& dict, const std::vector<uint8_t>& data,
                              int major = 1) {
  std::vector<uint8_t> bytes = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  const size_t length_bytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < length_bytes; ++i) bytes.push_back((dict.size() >> (8 * i)) & 0xff);
  bytes.insert(bytes.end(), dict.begin(), dict.end());
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

std::string header(const std::string& descr, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }\n";
}

// The message of the attn::Error that `action` throws; fails the test if it throws none.
template <typename Action>
std::string error_of(Action action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected an attn::Error";
  return "";
}

constexpr char kName[] = "inputs/q.npy";

// Every parse error is one line that starts with the file's name.
std::string parse_error(const std::vector<uint8_t>& bytes) {
  const std::string message = error_of([&] { parse_npy(bytes.data(), bytes.size(), kName); });
  EXPECT_THAT(message, StartsWith(std::string(kName) + ": "));
  EXPECT_THAT(message, Not(HasSubstr("\n")));
  return message;
}

NpyArray parse(const std::vector<uint8_t>& bytes) {
  return parse_npy(bytes.data(), bytes.size(), kName);
}

// ---------------------------------------------------------------- committed sample files

TEST(NpyReadTest, ReadsFloat32SampleFile) {
  const NpyArray array = read_npy(sample_path("float32.npy"));
  EXPECT_EQ(array.dtype, DType::kFloat32);
  EXPECT_THAT(array.shape, ElementsAre(2, 3));
  EXPECT_THAT(array.to_float32(), ElementsAre(0.5f, -1.25f, 2.0f, 3.5f, -4.0f, 0.125f));
}

TEST(NpyReadTest, ReadsFloat64SampleFileAsFloat32) {
  const NpyArray array = read_npy(sample_path("float64.npy"));
  EXPECT_EQ(array.dtype, DType::kFloat64);
  EXPECT_THAT(array.shape, ElementsAre(3));
  EXPECT_THAT(array.to_float32(), ElementsAre(1.5f, -2.25f, 1e10f));
}

TEST(NpyReadTest, ReadsInt64SampleFileExactly) {
  const NpyArray array = read_npy(sample_path("int64.npy"));
  EXPECT_EQ(array.dtype, DType::kInt64);
  EXPECT_THAT(array.shape, ElementsAre(2, 2));
  EXPECT_THAT(array.to_int64(), ElementsAre(1, -2, 3, (int64_t{1} << 53) + 1));
}

TEST(NpyReadTest, ReadsBoolSampleFile) {
  const NpyArray array = read_npy(sample_path("bool.npy"));
  EXPECT_EQ(array.dtype, DType::kBool);
  EXPECT_THAT(array.shape, ElementsAre(4));
  EXPECT_THAT(array.to_bool(), ElementsAre(1, 0, 0, 1));
}

// The error of reading a malformed sample names the file.
std::string sample_error(const std::string& file) {
  const std::string path = sample_path(file);
  const std::string message = error_of([&] { read_npy(path); });
  EXPECT_THAT(message, StartsWith(path + ": "));
  return message;
}

TEST(NpyReadTest, RejectsBadMagic) {
  EXPECT_THAT(sample_error("bad_magic.npy"), HasSubstr("not a .npy file (bad magic"));
}

TEST(NpyReadTest, RejectsTruncatedData) {
  EXPECT_THAT(sample_error("truncated.npy"),
              HasSubstr("truncated file: float32 data of shape (2, 3) needs 24 bytes but only 16"));
}

TEST(NpyReadTest, RejectsFortranOrder) {
  EXPECT_THAT(sample_error("fortran.npy"),
              HasSubstr("Fortran-order arrays are not supported; save with np.ascontiguousarray"));
}

TEST(NpyReadTest, RejectsBigEndianFloat32) {
  EXPECT_THAT(sample_error("big_endian.npy"),
              HasSubstr("big-endian float32 '>f4' is not supported"));
}

TEST(NpyReadTest, RejectsHugeHeader) {
  EXPECT_THAT(sample_error("huge_header.npy"),
              HasSubstr("header length 1048576 bytes exceeds the limit of 65536 bytes"));
}

TEST(NpyReadTest, MissingFileErrorNamesPathAndReason) {
  const std::string path = testing::temp_dir("npy_missing") + "/absent.npy";
  const std::string message = error_of([&] { read_npy(path); });
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("No such file or directory"));
}

TEST(NpyReadTest, RejectsDirectory) {
  const std::string dir = testing::temp_dir("npy_directory");
  EXPECT_THAT(error_of([&] { read_npy(dir); }), HasSubstr("cannot read " + dir));
}

// ---------------------------------------------------------------- parsing from memory

TEST(NpyParseTest, ParsesHeaderKeysInAnyOrder) {
  const NpyArray array = parse(
      npy_file("{'shape': (2,), 'fortran_order': False, 'descr': '<i4'}", raw<int32_t>({7, -8})));
  EXPECT_EQ(array.dtype, DType::kInt32);
  EXPECT_THAT(array.shape, ElementsAre(2));
  EXPECT_THAT(array.to_int64(), ElementsAre(7, -8));
}

TEST(NpyParseTest, ToleratesWhitespaceAndTrailingCommas) {
  const std::string dict =
      "{ \"descr\" :'<f8' ,\n\t'fortran_order':False,'shape':( 1 , 2 , ) , }  \n";
  const NpyArray array = parse(npy_file(dict, raw<double>({1.0, 2.0})));
  EXPECT_THAT(array.shape, ElementsAre(1, 2));
  EXPECT_THAT(array.to_float32(), ElementsAre(1.0f, 2.0f));
}

TEST(NpyParseTest, ParsesFormatVersions2And3) {
  for (int major : {2, 3}) {
    SCOPED_TRACE(major);
    const NpyArray array = parse(npy_file(header("<f4", "(2,)"), raw<float>({1.0f, -1.0f}), major));
    EXPECT_THAT(array.to_float32(), ElementsAre(1.0f, -1.0f));
  }
}

TEST(NpyParseTest, ParsesPython2LongDimensions) {
  const NpyArray array = parse(npy_file(header("|u1", "(2L, 1L)"), raw<uint8_t>({4, 5})));
  EXPECT_THAT(array.shape, ElementsAre(2, 1));
}

TEST(NpyParseTest, ParsesScalarAsOneElement) {
  const NpyArray array = parse(npy_file(header("<f4", "()"), raw<float>({2.5f})));
  EXPECT_TRUE(array.shape.empty());
  EXPECT_EQ(array.num_elements(), 1);
  EXPECT_THAT(array.to_float32(), ElementsAre(2.5f));
}

TEST(NpyParseTest, ParsesZeroSizeDimension) {
  const NpyArray array = parse(npy_file(header("<f4", "(0, 3)"), {}));
  EXPECT_THAT(array.shape, ElementsAre(0, 3));
  EXPECT_EQ(array.num_elements(), 0);
  EXPECT_TRUE(array.to_float32().empty());
}

TEST(NpyParseTest, ParsesUInt8WithAnyByteOrderMark) {
  for (const char* descr : {"|u1", "<u1"}) {
    SCOPED_TRACE(descr);
    EXPECT_EQ(parse(npy_file(header(descr, "(1,)"), raw<uint8_t>({9}))).dtype, DType::kUInt8);
  }
}

TEST(NpyParseTest, RejectsUnsupportedVersion) {
  EXPECT_THAT(parse_error(npy_file(header("<f4", "()"), raw<float>({1.0f}), 4)),
              HasSubstr("unsupported .npy format version 4.0"));
  std::vector<uint8_t> minor = npy_file(header("<f4", "()"), raw<float>({1.0f}));
  minor[7] = 1;
  EXPECT_THAT(parse_error(minor), HasSubstr("unsupported .npy format version 1.1"));
}

TEST(NpyParseTest, RejectsFileShorterThanMagic) {
  EXPECT_THAT(parse_error({0x93, 'N', 'U'}), HasSubstr("too short (3 bytes)"));
}

TEST(NpyParseTest, RejectsFileEndingInsideHeaderLength) {
  EXPECT_THAT(parse_error({0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 10}),
              HasSubstr("truncated file: ends inside the header length"));
}

TEST(NpyParseTest, RejectsHeaderShorterThanDeclared) {
  std::vector<uint8_t> bytes = npy_file(header("<f4", "()"), {});
  bytes[8] = 200;  // declares 200 header bytes; fewer follow
  EXPECT_THAT(parse_error(bytes), HasSubstr("truncated file: header declares 200 bytes"));
}

TEST(NpyParseTest, RejectsExtraBytesAfterData) {
  EXPECT_THAT(parse_error(npy_file(header("<i8", "(1,)"), raw<int64_t>({1, 2}))),
              HasSubstr("file has 8 extra bytes after the 8 bytes of data"));
}

TEST(NpyParseTest, RejectsUnsupportedDtypeNamingIt) {
  const std::string message = parse_error(npy_file(header("<c8", "()"), raw<float>({0, 0})));
  EXPECT_THAT(message, HasSubstr("unsupported dtype '<c8'"));
}

TEST(NpyParseTest, RejectsBigEndianInt64) {
  EXPECT_THAT(parse_error(npy_file(header(">i8", "()"), raw<int64_t>({1}))),
              HasSubstr("big-endian int64 '>i8' is not supported"));
}

TEST(NpyParseTest, RejectsStructuredDtype) {
  const std::string dict = "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}";
  EXPECT_THAT(parse_error(npy_file(dict, raw<float>({1.0f}))), HasSubstr("structured dtypes"));
}

TEST(NpyParseTest, RejectsMissingKey) {
  EXPECT_THAT(parse_error(npy_file("{'descr': '<f4', 'fortran_order': False}", raw<float>({1}))),
              HasSubstr("missing key 'shape'"));
}

TEST(NpyParseTest, RejectsDuplicateKey) {
  const std::string dict = "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}";
  EXPECT_THAT(parse_error(npy_file(dict, raw<float>({1}))), HasSubstr("duplicate key 'descr'"));
}

TEST(NpyParseTest, RejectsUnknownKey) {
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}";
  EXPECT_THAT(parse_error(npy_file(dict, raw<float>({1}))), HasSubstr("unexpected key 'x'"));
}

TEST(NpyParseTest, RejectsMalformedHeaders) {
  const std::vector<std::string> dicts = {
      "",
      "{",
      "'descr': '<f4', 'fortran_order': False, 'shape': ()",
      "{'descr' '<f4', 'fortran_order': False, 'shape': ()}",
      "{'descr': '<f4', 'fortran_order': Maybe, 'shape': ()}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (x,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': ()} extra",
      "{'descr': '<f4', 'fortran_order': False, 'shape': () 'x'}",
      "{'descr': '<f4, 'fortran_order': False, 'shape': ()}",
      "{'descr': '<f\x01', 'fortran_order': False, 'shape': ()}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': ()",
      "{,}",
  };
  for (const std::string& dict : dicts) {
    SCOPED_TRACE(dict);
    EXPECT_THAT(parse_error(npy_file(dict, raw<float>({1}))), HasSubstr("corrupt .npy header"));
  }
}

TEST(NpyParseTest, RejectsNegativeDimension) {
  EXPECT_THAT(parse_error(npy_file(header("<f4", "(2, -3)"), {})),
              HasSubstr("negative dimension -3"));
}

TEST(NpyParseTest, RejectsDimensionBeyondInt64) {
  EXPECT_THAT(parse_error(npy_file(header("<f4", "(99999999999999999999,)"), {})),
              HasSubstr("dimension 99999999999999999999 in shape is too large"));
}

TEST(NpyParseTest, RejectsElementCountOverflow) {
  EXPECT_THAT(parse_error(npy_file(header("<f4", "(4294967296, 4294967296, 4)"), {})),
              HasSubstr("has too many elements"));
}

TEST(NpyParseTest, RejectsByteCountOverflow) {
  EXPECT_THAT(parse_error(npy_file(header("<f8", "(4611686018427387904,)"), {})),
              HasSubstr("has too many bytes"));
}

TEST(NpyParseTest, RejectsAbsurdDimensionAsTruncated) {
  EXPECT_THAT(parse_error(npy_file(header("<f4", "(1000000000000,)"), raw<float>({1}))),
              HasSubstr("needs 4000000000000 bytes but only 4 follow"));
}

TEST(NpyParseTest, RejectsMoreThan64Dimensions) {
  std::string shape = "(";
  for (int i = 0; i < 65; ++i) shape += "1, ";
  EXPECT_THAT(parse_error(npy_file(header("<f4", shape + ")"), raw<float>({1}))),
              HasSubstr("more than 64 dimensions"));
}

// ---------------------------------------------------------------- conversions

NpyArray array_of(DType dtype, std::vector<int64_t> shape, std::vector<uint8_t> data) {
  NpyArray array;
  array.dtype = dtype;
  array.shape = std::move(shape);
  array.data = std::move(data);
  return array;
}

TEST(NpyConvertTest, Float64ToFloat32RoundsAndOverflowsToInfinity) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<float> out =
      array_of(DType::kFloat64, {4}, raw<double>({1.0 / 3.0, 1e300, -1e300, nan})).to_float32();
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], static_cast<float>(1.0 / 3.0));
  EXPECT_EQ(out[1], std::numeric_limits<float>::infinity());
  EXPECT_EQ(out[2], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(out[3]));
}

// float16 widens exactly, infinities and NaN included.
TEST(NpyConvertTest, Float16WidensExactly) {
  const NpyArray array = parse(npy_file(header("<f2", "(5,)"),
                                        raw<uint16_t>({0x3C00, 0xC580, 0x0001, 0x7C00, 0x7E00})));
  EXPECT_EQ(array.dtype, DType::kFloat16);
  const std::vector<float> out = array.to_float32();
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -5.5f);
  EXPECT_EQ(out[2], std::ldexp(1.0f, -24));  // the smallest subnormal
  EXPECT_EQ(out[3], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(out[4]));
}

TEST(NpyConvertTest, Int32ToInt64KeepsSign) {
  EXPECT_THAT(array_of(DType::kInt32, {3}, raw<int32_t>({-1, 0, INT32_MAX})).to_int64(),
              ElementsAre(-1, 0, INT32_MAX));
}

TEST(NpyConvertTest, ToBoolMapsNonZeroBytesToOne) {
  EXPECT_THAT(array_of(DType::kUInt8, {3}, raw<uint8_t>({0, 2, 255})).to_bool(),
              ElementsAre(0, 1, 1));
}

TEST(NpyConvertTest, ToFloat32RejectsIntegerArray) {
  const NpyArray array = array_of(DType::kInt64, {1}, raw<int64_t>({1}));
  EXPECT_THAT(error_of([&] { array.to_float32(); }),
              HasSubstr("expected a float32, float64 or float16 array, got int64"));
}

TEST(NpyConvertTest, ToInt64RejectsFloatArray) {
  const NpyArray array = array_of(DType::kFloat32, {1}, raw<float>({1}));
  EXPECT_THAT(error_of([&] { array.to_int64(); }),
              HasSubstr("expected an int32 or int64 array, got float32"));
}

TEST(NpyConvertTest, ToBoolRejectsInt32Array) {
  const NpyArray array = array_of(DType::kInt32, {1}, raw<int32_t>({1}));
  EXPECT_THAT(error_of([&] { array.to_bool(); }),
              HasSubstr("expected a bool or uint8 array, got int32"));
}

TEST(NpyConvertTest, RejectsDataSizeNotMatchingShape) {
  const NpyArray array = array_of(DType::kFloat32, {3}, raw<float>({1, 2}));
  EXPECT_THAT(error_of([&] { array.to_float32(); }), HasSubstr("needs 12 bytes of data, has 8"));
}

// ---------------------------------------------------------------- write_npy

TEST(NpyWriteTest, RoundTripsThroughReadNpy) {
  const std::string dir = testing::temp_dir("npy_round_trip");
  const std::vector<std::vector<int64_t>> shapes = {{2, 3}, {}, {5}, {0, 4}, {2, 1, 3, 2}};
  for (const std::vector<int64_t>& shape : shapes) {
    SCOPED_TRACE(shape.size());
    int64_t count = 1;
    for (int64_t dim : shape) count *= dim;
    const std::vector<float> values = testing::random_floats(count, 7);
    write_npy(dir + "/out.npy", values.data(), shape);
    const NpyArray array = read_npy(dir + "/out.npy");
    EXPECT_EQ(array.dtype, DType::kFloat32);
    EXPECT_EQ(array.shape, shape);
    EXPECT_EQ(array.to_float32(), values);
  }
}

TEST(NpyWriteTest, PadsHeaderToMultipleOf64EndingInNewline) {
  const std::string path = testing::temp_dir("npy_padding") + "/out.npy";
  const std::vector<float> values = {1, 2, 3};
  write_npy(path, values.data(), {3});
  const std::vector<uint8_t> bytes = file_bytes(path);
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes[6], 1);  // format 1.0
  EXPECT_EQ(bytes[7], 0);
  const size_t data_offset = 10 + (bytes[8] | (bytes[9] << 8));
  EXPECT_EQ(data_offset % 64, 0u);
  ASSERT_EQ(bytes.size(), data_offset + 12);
  EXPECT_EQ(bytes[data_offset - 1], '\n');
  float first = 0;
  std::memcpy(&first, bytes.data() + data_offset, sizeof(first));
  EXPECT_EQ(first, 1.0f);
}

TEST(NpyWriteTest, MatchesNumPyLayoutOfSampleFile) {
  const std::string path = testing::temp_dir("npy_numpy_layout") + "/out.npy";
  const std::vector<float> values = {0.5f, -1.25f, 2.0f, 3.5f, -4.0f, 0.125f};
  write_npy(path, values.data(), {2, 3});
  EXPECT_EQ(file_bytes(path), file_bytes(sample_path("float32.npy")));
}

TEST(NpyWriteTest, WritesOneDimensionalShapeAsPythonTuple) {
  const std::string path = testing::temp_dir("npy_tuple") + "/out.npy";
  const std::vector<float> values = {1, 2, 3};
  write_npy(path, values.data(), {3});
  const std::vector<uint8_t> bytes = file_bytes(path);
  EXPECT_THAT(std::string(bytes.begin(), bytes.end()), HasSubstr("'shape': (3,), }"));
}

TEST(NpyWriteTest, ReplacesExistingFileAndLeavesNoTemporaryFile) {
  const std::string dir = testing::temp_dir("npy_replace");
  write_bytes(dir + "/out.npy", "old contents");
  const std::vector<float> values = {4, 5};
  write_npy(dir + "/out.npy", values.data(), {2});
  EXPECT_THAT(dir_entries(dir), ElementsAre("out.npy"));
  EXPECT_THAT(read_npy(dir + "/out.npy").to_float32(), ElementsAre(4.0f, 5.0f));
}

TEST(NpyWriteTest, FailsInMissingDirectoryNamingPathAndReason) {
  const std::string path = testing::temp_dir("npy_no_dir") + "/absent/out.npy";
  const float value = 1;
  const std::string message = error_of([&] { write_npy(path, &value, {1}); });
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("No such file or directory"));
}

TEST(NpyWriteTest, RejectsNegativeDimensionWithoutCreatingFiles) {
  const std::string dir = testing::temp_dir("npy_negative");
  const float value = 1;
  EXPECT_THAT(error_of([&] {
                write_npy(dir + "/out.npy", &value, {2, -1});
              }),
              HasSubstr("negative dimension -1"));
  EXPECT_TRUE(dir_entries(dir).empty());
}

// ---------------------------------------------------------------- NpyStreamWriter

TEST(NpyStreamWriterTest, RoundTripsUnevenChunks) {
  const std::string path = testing::temp_dir("npy_stream") + "/out.npy";
  const std::vector<float> values = testing::random_floats(12, 3);
  NpyStreamWriter writer(path, {4, 3});
  writer.append(values.data(), 5);
  writer.append(values.data() + 5, 0);
  writer.append(values.data() + 5, 7);
  writer.finish();
  const NpyArray array = read_npy(path);
  EXPECT_THAT(array.shape, ElementsAre(4, 3));
  EXPECT_EQ(array.to_float32(), values);
}

TEST(NpyStreamWriterTest, OutputAppearsOnlyAfterFinish) {
  const std::string path = testing::temp_dir("npy_stream_atomic") + "/out.npy";
  const std::vector<float> values = {1, 2};
  NpyStreamWriter writer(path, {2});
  writer.append(values.data(), 2);
  EXPECT_FALSE(fs::exists(path));
  writer.finish();
  EXPECT_TRUE(fs::exists(path));
}

TEST(NpyStreamWriterTest, AppendBeyondShapeThrows) {
  const std::string path = testing::temp_dir("npy_stream_excess") + "/out.npy";
  const std::vector<float> values = {1, 2, 3};
  NpyStreamWriter writer(path, {2});
  writer.append(values.data(), 1);
  EXPECT_THAT(error_of([&] { writer.append(values.data(), 2); }),
              HasSubstr("appending 2 elements would exceed the array's 2 elements"));
}

TEST(NpyStreamWriterTest, FinishBeforeWholeArrayThrows) {
  const std::string path = testing::temp_dir("npy_stream_short") + "/out.npy";
  const float value = 1;
  NpyStreamWriter writer(path, {2});
  writer.append(&value, 1);
  EXPECT_THAT(error_of([&] { writer.finish(); }), HasSubstr("finish() after 1 of the array's 2"));
  EXPECT_FALSE(fs::exists(path));
}

TEST(NpyStreamWriterTest, AppendAfterFinishThrows) {
  const std::string path = testing::temp_dir("npy_stream_done") + "/out.npy";
  const float value = 1;
  NpyStreamWriter writer(path, {});
  writer.append(&value, 1);
  writer.finish();
  EXPECT_THAT(error_of([&] { writer.append(&value, 0); }), HasSubstr("finished or failed"));
}

TEST(NpyStreamWriterTest, DestructorRemovesTemporaryFileWithoutFinish) {
  const std::string dir = testing::temp_dir("npy_stream_abandon");
  {
    const float value = 1;
    NpyStreamWriter writer(dir + "/out.npy", {3});
    writer.append(&value, 1);
    EXPECT_EQ(dir_entries(dir).size(), 1u);  // the temporary file
  }
  EXPECT_TRUE(dir_entries(dir).empty());
}

}  // namespace
}  // namespace attn
