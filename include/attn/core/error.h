// attn::Error — the one exception type of the library.
//
// Every check that rejects an input throws attn::Error with a one-line message that names the
// argument and the value or shape seen. The CLI prints the message on stderr and exits non-zero.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace attn {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
template <typename... Parts>
[[noreturn]] void throw_error(const Parts&... parts) {
  std::ostringstream message;
  (message << ... << parts);
  throw Error(message.str());
}
}  // namespace detail

}  // namespace attn

// ATTN_CHECK(cond, "part", value, "part", ...): throws attn::Error built from the parts unless
// cond.
#define ATTN_CHECK(cond, ...)                              \
  do {                                                     \
    if (!(cond)) ::attn::detail::throw_error(__VA_ARGS__); \
  } while (0)
