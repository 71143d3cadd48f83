// An MPI datatype of one row of floats, so that message counts stay within int for long
// sequences (MPI counts are int).
#pragma once

#include <mpi.h>

#include <climits>
#include <cstdint>

#include "attn/core/error.h"

namespace attn::dist {

class RowType {
 public:
  explicit RowType(int64_t floats) {
    ATTN_CHECK(floats > 0 && floats <= INT_MAX, "mpi: a row of ", floats, " floats");
    MPI_Type_contiguous(static_cast<int>(floats), MPI_FLOAT, &type_);
    MPI_Type_commit(&type_);
  }
  ~RowType() { MPI_Type_free(&type_); }
  RowType(const RowType&) = delete;
  RowType& operator=(const RowType&) = delete;

  MPI_Datatype type() const { return type_; }
  // rows as an MPI count; throws when it exceeds int.
  static int count(int64_t rows) {
    ATTN_CHECK(rows >= 0 && rows <= INT_MAX, "mpi: ", rows, " rows exceed one message's count");
    return static_cast<int>(rows);
  }

 private:
  MPI_Datatype type_ = MPI_DATATYPE_NULL;
};

}  // namespace attn::dist
