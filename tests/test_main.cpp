// Catch2 entry point of the test binary; each TEST_CASE is its own ctest.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
