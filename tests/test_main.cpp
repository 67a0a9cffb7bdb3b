// Catch2 entry point of the test binary; each TEST_CASE is its own ctest.
// One main for Catch2 2.13 and 3 (tests/catch.h): 2.13 compiles its runner
// into the translation unit that defines CATCH_CONFIG_RUNNER, 3 has it in its
// library.
#if DCSR_CATCH2_MAJOR >= 3
#include <catch2/catch_session.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

int main(int argc, char* argv[]) { return Catch::Session().run(argc, argv); }
