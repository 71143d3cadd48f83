// attn's version: the macros for the preprocessor and a function for the library actually loaded.
#pragma once

#define ATTN_VERSION_MAJOR 0
#define ATTN_VERSION_MINOR 1
#define ATTN_VERSION_PATCH 0
#define ATTN_VERSION_STRING "0.1.0"

namespace attn {

// The version of the library loaded at run time ("major.minor.patch"); it can differ from
// ATTN_VERSION_STRING when a program runs against another build of the shared library.
const char* version();

}  // namespace attn
