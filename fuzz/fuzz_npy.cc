// libFuzzer target for the .npy reader: any input must either parse or throw attn::Error.
// Any other exception, a crash or a sanitizer report is a bug.
#include <cstdint>
#include <cstdlib>
#include <initializer_list>

#include "attn/core/error.h"
#include "attn/io/npy.h"

namespace {

// Calls one conversion helper: it must give one value per element when the array's dtype is one
// of `accepted`, and throw attn::Error otherwise.
template <typename Convert>
void check_conversion(const attn::NpyArray& array, std::initializer_list<attn::DType> accepted,
                      Convert convert) {
  bool accepts = false;
  for (attn::DType dtype : accepted) accepts |= array.dtype == dtype;
  try {
    const auto values = convert(array);
    if (!accepts || static_cast<int64_t>(values.size()) != array.num_elements()) std::abort();
  } catch (const attn::Error&) {
    if (accepts) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using attn::DType;
  attn::NpyArray array;
  try {
    array = attn::parse_npy(data, size, "fuzz.npy");
  } catch (const attn::Error&) {
    return 0;
  }
  check_conversion(array, {DType::kFloat32, DType::kFloat64, DType::kFloat16},
                   [](const attn::NpyArray& a) { return a.to_float32(); });
  check_conversion(array, {DType::kInt32, DType::kInt64},
                   [](const attn::NpyArray& a) { return a.to_int64(); });
  check_conversion(array, {DType::kBool, DType::kUInt8},
                   [](const attn::NpyArray& a) { return a.to_bool(); });
  return 0;
}
