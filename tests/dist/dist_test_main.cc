// main of the ring attention tests: MPI around GoogleTest. Rank 0 prints the usual report; the
// other ranks print only their failures, prefixed with their rank. An exception that escapes a
// test aborts the whole job (run_or_abort) rather than leaving the other ranks waiting.
#include <cstdio>

#include "attn/dist/abort_on_error.h"
#include "gtest/gtest.h"

namespace {

class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_,
                 r.file_name() ? r.file_name() : "", r.line_number(), r.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  attn::dist::MpiSession mpi(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::GTEST_FLAG(catch_exceptions) = false;  // exceptions reach run_or_abort
  if (mpi.rank() != 0) {
    ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(mpi.rank()));
  }
  return attn::dist::run_or_abort(MPI_COMM_WORLD, [] { return RUN_ALL_TESTS(); });
}
