#include "attn/io/safetensors.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

#include "attn/core/atomic_file.h"
#include "attn/core/error.h"

namespace attn {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// Elements of `shape`, or throws when a dimension is negative or the count overflows.
uint64_t element_count(const std::vector<int64_t>& shape, const std::string& what) {
  uint64_t count = 1;
  for (int64_t d : shape) {
    ATTN_CHECK(d >= 0, what, ": negative dimension in shape ", shape_text(shape));
    ATTN_CHECK(d == 0 || count <= std::numeric_limits<uint64_t>::max() / 8 / uint64_t(d), what,
               ": shape ", shape_text(shape), " is too large");
    count *= uint64_t(d);
  }
  return count;
}

std::string header_json(const std::vector<NamedTensor>& tensors, const Metadata& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const NamedTensor& t : tensors) {
    ATTN_CHECK(!t.name.empty() && t.name != "__metadata__", "safetensors: bad tensor name '",
               t.name, "'");
    ATTN_CHECK(!header.contains(t.name), "safetensors: tensor '", t.name, "' given twice");
    const uint64_t bytes = element_count(t.shape, t.name) * sizeof(float);
    header[t.name] = {
        {"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const Metadata& metadata) {
  const std::string header = header_json(tensors, metadata);
  AtomicFile file(path);
  const uint64_t length = header.size();
  uint8_t length_bytes[8];
  for (int i = 0; i < 8; ++i) length_bytes[i] = uint8_t(length >> (8 * i));
  file.write(length_bytes, sizeof length_bytes);
  file.write(header.data(), header.size());
  for (const NamedTensor& t : tensors) {
    const uint64_t count = element_count(t.shape, t.name);
    ATTN_CHECK(count == 0 || t.data != nullptr, "safetensors: tensor '", t.name, "' has no data");
    file.write(t.data, count * sizeof(float));
  }
  file.commit();
}

bool looks_like_safetensors(const std::string& path) {
  constexpr std::string_view kSuffix = ".safetensors";
  if (path.size() >= kSuffix.size() && path.ends_with(kSuffix)) return true;
  std::ifstream in(path, std::ios::binary);
  unsigned char head[9] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= uint64_t(head[i]) << (8 * i);
  return in.gcount() == 9 && head[8] == '{' && length <= kMaxHeaderBytes;
}

SafetensorsFile SafetensorsFile::read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ATTN_CHECK(in.good(), path, ": cannot open checkpoint: ", std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  return parse(std::move(bytes), path);
}

namespace {

// The entry `value` of tensor `name`: dtype F32, a shape, offsets that fit the data section.
void check_entry(const nlohmann::json& value, const std::string& file, const std::string& name,
                 size_t data_size, std::vector<int64_t>& shape, uint64_t& begin, uint64_t& end) {
  const std::string what = file + ": tensor '" + name + "'";
  ATTN_CHECK(value.is_object() && value.contains("dtype") && value.contains("shape") &&
                 value.contains("data_offsets"),
             what, " lacks dtype, shape or data_offsets");
  const auto& dtype = value["dtype"];
  ATTN_CHECK(dtype.is_string() && dtype.get<std::string>() == "F32", what, " has dtype ",
             dtype.dump(), "; only F32 is supported");
  ATTN_CHECK(value["shape"].is_array(), what, ": shape is not a list");
  for (const auto& d : value["shape"]) {
    ATTN_CHECK(d.is_number_integer(), what, ": shape holds a non-integer");
    shape.push_back(d.get<int64_t>());
  }
  const auto& offsets = value["data_offsets"];
  ATTN_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
                 offsets[1].is_number_unsigned(),
             what, ": data_offsets must be two non-negative integers");
  begin = offsets[0].get<uint64_t>();
  end = offsets[1].get<uint64_t>();
  ATTN_CHECK(begin <= end && end <= data_size, what, ": data_offsets [", begin, ", ", end,
             "] lie outside the ", data_size, " data bytes (truncated file?)");
  ATTN_CHECK(end - begin == element_count(shape, what) * sizeof(float), what, ": shape ",
             shape_text(shape), " does not match its ", end - begin, " bytes");
}

}  // namespace

SafetensorsFile SafetensorsFile::parse(std::vector<uint8_t> bytes, const std::string& name) {
  SafetensorsFile f;
  f.name_ = name;
  ATTN_CHECK(bytes.size() >= 8, name, ": corrupt safetensors header: ", bytes.size(),
             " bytes, not a safetensors checkpoint");
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= uint64_t(bytes[i]) << (8 * i);
  ATTN_CHECK(length <= kMaxHeaderBytes && length <= bytes.size() - 8, name,
             ": corrupt safetensors header: header length ", length, " does not fit the ",
             bytes.size(), "-byte file (truncated or not a checkpoint)");
  const char* text = reinterpret_cast<const char*>(bytes.data() + 8);
  const nlohmann::json header = nlohmann::json::parse(text, text + length, nullptr, false);
  ATTN_CHECK(header.is_object(), name, ": corrupt safetensors header: not a JSON object");
  f.data_start_ = 8 + length;
  const size_t data_size = bytes.size() - f.data_start_;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      ATTN_CHECK(value.is_object(), name, ": __metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        ATTN_CHECK(v.is_string(), name, ": metadata '", k, "' is not a string");
        f.metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    Entry e;
    uint64_t begin = 0, end = 0;
    check_entry(value, name, key, data_size, e.shape, begin, end);
    e.begin = begin;
    e.end = end;
    f.entries_[key] = std::move(e);
  }
  f.bytes_ = std::move(bytes);
  return f;
}

const std::string& SafetensorsFile::meta(const std::string& key) const {
  const auto it = metadata_.find(key);
  ATTN_CHECK(it != metadata_.end(), name_, ": metadata '", key, "' is missing");
  return it->second;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> names;
  for (const auto& [name, entry] : entries_) names.push_back(name);
  return names;
}

const SafetensorsFile::Entry& SafetensorsFile::entry(const std::string& name) const {
  const auto it = entries_.find(name);
  ATTN_CHECK(it != entries_.end(), name_, ": tensor '", name, "' is missing");
  return it->second;
}

const std::vector<int64_t>& SafetensorsFile::shape(const std::string& name) const {
  return entry(name).shape;
}

void SafetensorsFile::read_into(const std::string& name, const std::vector<int64_t>& expected,
                                float* out) const {
  const Entry& e = entry(name);
  ATTN_CHECK(e.shape == expected, name_, ": tensor '", name, "' has shape ", shape_text(e.shape),
             ", expected ", shape_text(expected));
  std::memcpy(out, bytes_.data() + data_start_ + e.begin, e.end - e.begin);
}

}  // namespace attn
